/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4), used to name lock files of very long resources. */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE	32

/* Computes the SHA-256 digest of LEN bytes at DATA into OUT. */
void	sha256(const void *data, size_t len,
	    uint8_t out[SHA256_DIGEST_SIZE]);

#endif /* SHA256_H */
