#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# One XML-RPC call through Perl's RPC::XML (Debian librpc-xml-perl) for
# test_thirdparty.sh: rpcxml.pl URL METHOD [s/STRING | i/INTEGER]...
# prints "value:V" (booleans 1/0, nil "nil"), "fault:CODE:STRING" or "error:...".
use strict;
use warnings;
use RPC::XML;
use RPC::XML::Client;

$RPC::XML::ALLOW_NIL = 1;
my ($url, $method, @args) = @ARGV;
my @params = map {
	m{^i/(.*)}s ? RPC::XML::smart_encode($1 + 0) : RPC::XML::string->new(substr($_, 2))
} @args;
my $client = RPC::XML::Client->new($url, timeout => 10);
my $r = eval { $client->send_request($method, @params) };
if (!defined $r) {
	(my $e = $@ || 'no answer') =~ s/\s+/ /g;
	print "error:$e\n";
} elsif (!ref $r) {
	$r =~ s/\s+/ /g;
	print "error:$r\n";
} elsif ($r->is_fault) {
	print 'fault:', $r->code, ':', $r->string, "\n";
} elsif ($r->type eq 'nil') {
	print "value:nil\n";
} else {
	my $v = $r->value;
	print 'value:', (defined $v ? $v : 'undef'), "\n";
}
