/* SPDX-License-Identifier: MIT */
/*
 * Access control: the allow-list of networks, HTTP Basic authentication
 * against a users file of crypt(3) hashes, and identity binding.
 *
 * Users file, one user per line ('#' comments):
 *	NAME:HASH:ROLE:CLIENTS
 * HASH from crypt(3) (yescrypt "$y$" or sha512-crypt "$6$", e.g. from
 * "mkpasswd -m yescrypt" or "openssl passwd -6"), ROLE "client" or
 * "admin", CLIENTS a comma-separated list of the client names the user may
 * lock and unlock as, or "*" for any.
 */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "backoff.h"
#include "protocol.h"
#include "cidr.h"
#include "sha256.h"

#define MAX_NETS	256
#define MAX_CREDENTIALS	1024	/* bytes of a decoded user:password */

struct access_user {
	char		 *name;
	char		 *hash;
	enum access_role  role;
	char		**clients;	/* NULL-terminated; NULL means any */
	/* Digest of the last password that verified: crypt(3) is slow by
	 * design, and paying it on every lock call would be a DoS. */
	uint8_t		  ok_digest[SHA256_DIGEST_SIZE];
	int		  has_ok;
};

struct access {
	struct cidr		 nets[MAX_NETS];
	int			 nnets;
	struct access_user	*users;
	int			 nusers;
	int			 auth;		/* an auth-file is configured */
	char			*dummy_hash;	/* unknown users verify this */
	uint8_t			 salt[16];	/* for ok_digest */
	pthread_mutex_t		 cache_lock;
};

static void
free_user(struct access_user *u)
{
	char	**c;

	free(u->name);
	free(u->hash);
	if (u->clients != NULL) {
		for (c = u->clients; *c != NULL; c++)
			free(*c);
		free(u->clients);
	}
}

/* Frees the rules; accepts NULL. */
void
access_free(struct access *acc)
{
	int	i;

	if (acc == NULL)
		return;
	for (i = 0; i < acc->nusers; i++)
		free_user(&acc->users[i]);
	free(acc->users);
	free(acc->dummy_hash);
	pthread_mutex_destroy(&acc->cache_lock);
	free(acc);
}

static int
parse_nets(struct access *acc, const char *list, char *err, size_t errsize)
{
	char	*copy, *p, *tok, e[256];

	if (list == NULL || *list == '\0')
		return 0;
	if ((copy = strdup(list)) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	for (p = copy; (tok = strsep(&p, ",")) != NULL;) {
		if (*tok == '\0')
			continue;
		if (acc->nnets == MAX_NETS) {
			snprintf(err, errsize, "more than %d allow entries",
			    MAX_NETS);
			free(copy);
			return -1;
		}
		if (cidr_parse(tok, &acc->nets[acc->nnets], e,
		    sizeof(e)) == -1) {
			snprintf(err, errsize, "allow: %s", e);
			free(copy);
			return -1;
		}
		acc->nnets++;
	}
	free(copy);
	return 0;
}

/* Splits CLIENTS ("*" or "a,b,c") into U->clients. */
static int
parse_clients(struct access_user *u, const char *clients)
{
	const char	*p;
	char		*copy, *s, *tok;
	size_t		 n = 1, i = 0;

	if (strcmp(clients, "*") == 0)
		return 0;
	for (p = clients; *p != '\0'; p++)
		n += *p == ',';
	if ((u->clients = calloc(n + 1, sizeof(*u->clients))) == NULL ||
	    (copy = strdup(clients)) == NULL)
		return -1;
	for (s = copy; (tok = strsep(&s, ",")) != NULL;) {
		if (*tok == '\0')
			continue;
		if ((u->clients[i++] = strdup(tok)) == NULL) {
			free(copy);
			return -1;
		}
	}
	free(copy);
	return i == 0 ? -1 : 0;
}

/* Parses one users-file line into U; NULL or a message. */
static const char *
parse_user(char *line, struct access_user *u)
{
	char	*name, *hash, *role, *clients;

	name = strsep(&line, ":");
	hash = strsep(&line, ":");
	role = strsep(&line, ":");
	clients = line;
	if (hash == NULL || role == NULL || clients == NULL)
		return "expected NAME:HASH:ROLE:CLIENTS";
	if (*name == '\0')
		return "empty user name";
	if (hash[0] != '$' || strlen(hash) < 4)
		return "the hash is not a crypt(3) hash (like $y$... or $6$...)";
	if (strcmp(role, "client") == 0)
		u->role = ACCESS_ROLE_CLIENT;
	else if (strcmp(role, "admin") == 0)
		u->role = ACCESS_ROLE_ADMIN;
	else
		return "role must be client or admin";
	if (*clients == '\0')
		return "empty list of client names (use * for any)";
	if ((u->name = strdup(name)) == NULL ||
	    (u->hash = strdup(hash)) == NULL || parse_clients(u, clients) == -1)
		return "out of memory or empty client list";
	return NULL;
}

static int
load_users(struct access *acc, const char *path, conf_reporter report,
    char *err, size_t errsize)
{
	FILE		*fp;
	char		 line[4096], msg[1024], *end;
	const char	*why;
	int		 lineno = 0, errors = 0, i;
	void		*grown;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errsize, "cannot read auth-file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		end = line + strcspn(line, "\r\n");
		*end = '\0';
		if (line[strspn(line, " \t")] == '#' ||
		    line[strspn(line, " \t")] == '\0')
			continue;
		grown = realloc(acc->users,
		    (size_t)(acc->nusers + 1) * sizeof(*acc->users));
		if (grown == NULL) {
			errors++;
			break;
		}
		acc->users = grown;
		memset(&acc->users[acc->nusers], 0, sizeof(*acc->users));
		if ((why = parse_user(line, &acc->users[acc->nusers])) != NULL) {
			free_user(&acc->users[acc->nusers]);
			snprintf(msg, sizeof(msg), "%s:%d: %s", path, lineno,
			    why);
			report(msg);
			errors++;
			continue;
		}
		for (i = 0; i < acc->nusers; i++)
			if (strcmp(acc->users[i].name,
			    acc->users[acc->nusers].name) == 0)
				break;
		if (i < acc->nusers) {
			snprintf(msg, sizeof(msg), "%s:%d: user '%s' appears "
			    "twice", path, lineno, acc->users[i].name);
			report(msg);
			free_user(&acc->users[acc->nusers]);
			errors++;
			continue;
		}
		acc->nusers++;
	}
	fclose(fp);
	if (errors > 0) {
		snprintf(err, errsize, "%d error%s in auth-file %s", errors,
		    errors == 1 ? "" : "s", path);
		return -1;
	}
	if (acc->nusers == 0) {
		snprintf(err, errsize, "auth-file %s names no user", path);
		return -1;
	}
	return 0;
}

/*
 * A hash of a password nobody knows, with the method, cost and salt of the
 * first user whose hash crypt(3) takes: an unknown user name is verified
 * against it, so that it costs the time of a known one with a wrong
 * password (the time would otherwise tell which names exist).
 */
static int
make_dummy(struct access *acc)
{
	struct crypt_data	*cd;
	const char		*h;
	int			 i;

	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return -1;
	for (i = 0; i < acc->nusers && acc->dummy_hash == NULL; i++) {
		h = crypt_r("lockd: no such user", acc->users[i].hash, cd);
		if (h != NULL && h[0] != '*')
			acc->dummy_hash = strdup(h);
	}
	free(cd);
	if (i == acc->nusers && acc->dummy_hash == NULL)
		acc->dummy_hash = strdup(acc->users[0].hash);
	return acc->dummy_hash == NULL ? -1 : 0;
}

/* Builds the rules of CONF. */
struct access *
access_new(const struct lockd_conf *conf, conf_reporter report, char *err,
    size_t errsize)
{
	struct access	*acc;
	FILE		*fp;

	if ((acc = calloc(1, sizeof(*acc))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&acc->cache_lock, NULL);
	if (parse_nets(acc, conf->allow, err, errsize) == -1)
		goto fail;
	if (conf->auth_file != NULL && *conf->auth_file != '\0') {
		acc->auth = 1;
		if (load_users(acc, conf->auth_file, report, err,
		    errsize) == -1)
			goto fail;
		if ((fp = fopen("/dev/urandom", "r")) == NULL ||
		    fread(acc->salt, 1, sizeof(acc->salt), fp) !=
		    sizeof(acc->salt)) {
			if (fp != NULL)
				fclose(fp);
			snprintf(err, errsize, "cannot read /dev/urandom");
			goto fail;
		}
		fclose(fp);
		if (make_dummy(acc) == -1) {
			snprintf(err, errsize, "out of memory");
			goto fail;
		}
	}
	return acc;
fail:
	access_free(acc);
	return NULL;
}

/* Decodes base64 IN into OUT (SIZE bytes, NUL-terminated); -1 if invalid. */
static int
base64_decode(const char *in, char *out, size_t size)
{
	static const char	 set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*p;
	uint32_t		 acc = 0;
	size_t			 o = 0;
	int			 bits = 0, pad = 0;

	for (; *in != '\0'; in++) {
		if (*in == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (p = strchr(set, *in)) == NULL)
			return -1;
		acc = acc << 6 | (uint32_t)(p - set);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= size)
				return -1;
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	if (pad > 2)
		return -1;
	out[o] = '\0';
	return memchr(out, '\0', o) == NULL ? 0 : -1;
}

static void
digest_of(const struct access *acc, const char *user, const char *pass,
    uint8_t out[SHA256_DIGEST_SIZE])
{
	char	buf[sizeof(acc->salt) + 2 * MAX_CREDENTIALS + 2];
	size_t	n = sizeof(acc->salt);

	memcpy(buf, acc->salt, n);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s:%s", user, pass);
	sha256(buf, n, out);
}

/* Constant-time comparison of LEN bytes. */
static int
equal_ct(const void *a, const void *b, size_t len)
{
	const uint8_t	*x = a, *y = b;
	uint8_t		 d = 0;
	size_t		 i;

	for (i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/* Whether PASS hashes to HASH: the slow part, by design. */
static int
crypt_ok(const char *pass, const char *hash)
{
	struct crypt_data	*cd;
	const char		*h;
	int			 ok;

	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return 0;
	h = crypt_r(pass, hash, cd);
	ok = h != NULL && h[0] != '*' && strlen(h) == strlen(hash) &&
	    equal_ct(h, hash, strlen(h));
	free(cd);
	return ok;
}

static int
verify(struct access *acc, struct access_user *u, const char *pass)
{
	uint8_t	dig[SHA256_DIGEST_SIZE];
	int	ok, cached;

	digest_of(acc, u->name, pass, dig);
	pthread_mutex_lock(&acc->cache_lock);
	cached = u->has_ok && equal_ct(u->ok_digest, dig, sizeof(dig));
	pthread_mutex_unlock(&acc->cache_lock);
	if (cached)
		return 1;
	if ((ok = crypt_ok(pass, u->hash))) {
		pthread_mutex_lock(&acc->cache_lock);
		memcpy(u->ok_digest, dig, sizeof(dig));
		u->has_ok = 1;
		pthread_mutex_unlock(&acc->cache_lock);
	}
	return ok;
}

static int
authenticate(struct access *acc, const char *authorization,
    const struct access_user **userp, char *msg, size_t msgsize,
    const struct sockaddr *peer, size_t salen)
{
	char	cred[MAX_CREDENTIALS + 1], *pass;
	long	wait;
	int	i, ok;

	if (authorization == NULL) {
		snprintf(msg, msgsize, "Authentication required: this lockd "
		    "accepts only requests with HTTP Basic credentials");
		return LOCKD_FAULT_AUTH;
	}
	if (strncasecmp(authorization, "Basic ", 6) != 0 ||
	    base64_decode(authorization + 6 + strspn(authorization + 6, " "),
	    cred, sizeof(cred)) == -1 || (pass = strchr(cred, ':')) == NULL) {
		snprintf(msg, msgsize, "Authentication failed: malformed "
		    "Basic credentials");
		return LOCKD_FAULT_AUTH;
	}
	/* Before any hashing: a peer guessing passwords is refused cheaply. */
	if ((wait = backoff_wait(peer, salen)) > 0) {
		explicit_bzero(cred, sizeof(cred));
		snprintf(msg, msgsize, "Authentication failed: too many failed "
		    "attempts from your address; wait %ld seconds", wait);
		return LOCKD_FAULT_AUTH;
	}
	*pass++ = '\0';
	for (i = 0; i < acc->nusers; i++)
		if (strcmp(acc->users[i].name, cred) == 0)
			break;
	if (i == acc->nusers) {
		(void)crypt_ok(pass, acc->dummy_hash);
		ok = 0;
	} else
		ok = verify(acc, &acc->users[i], pass);
	if (!ok) {
		explicit_bzero(cred, sizeof(cred));
		backoff_failed(peer, salen);
		snprintf(msg, msgsize, "Authentication failed: wrong user "
		    "name or password");
		return LOCKD_FAULT_AUTH;
	}
	explicit_bzero(cred, sizeof(cred));
	*userp = &acc->users[i];
	return 0;
}

/* Whether PEER passes the allow-list of ACC. */
int
access_peer_allowed(const struct access *acc, const struct sockaddr *peer,
    size_t salen)
{
	int	i;

	if (acc == NULL || acc->nnets == 0)
		return 1;
	for (i = 0; i < acc->nnets; i++)
		if (cidr_match(&acc->nets[i], peer, salen))
			return 1;
	return 0;
}

/* Decides whether a request may proceed. */
int
access_check(struct access *acc, const struct sockaddr *peer, size_t salen,
    const char *authorization, const struct access_user **userp, char *msg,
    size_t msgsize)
{
	*userp = NULL;
	if (!access_peer_allowed(acc, peer, salen)) {
		snprintf(msg, msgsize, "Access denied: your address is not "
		    "allowed to use this lockd");
		return LOCKD_FAULT_DENIED;
	}
	if (!acc->auth)
		return 0;
	return authenticate(acc, authorization, userp, msg, msgsize, peer,
	    salen);
}

/* Whether USER may act as CLIENT. */
int
access_may_act_as(const struct access_user *user, const char *client)
{
	char	**c;

	if (user == NULL || user->clients == NULL)
		return 1;
	for (c = user->clients; *c != NULL; c++)
		if (strcmp(*c, client) == 0)
			return 1;
	return 0;
}

/* The role of USER; admin when there is no authentication. */
enum access_role
access_user_role(const struct access_user *user)
{
	return user == NULL ? ACCESS_ROLE_ADMIN : user->role;
}

/* The name of USER, or "-". */
const char *
access_user_name(const struct access_user *user)
{
	return user == NULL ? "-" : user->name;
}
