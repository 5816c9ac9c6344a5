#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# One XML-RPC call through Perl's XMLRPC::Lite (Debian libxmlrpc-lite-perl)
# for test_thirdparty.sh: xmlrpclite.pl URL METHOD [s/STRING | i/INTEGER]...
# prints "value:V" (nil "undef"), "fault:CODE:STRING" or "error:...".
use strict;
use warnings;
use XMLRPC::Lite;

my ($url, $method, @args) = @ARGV;
my @params = map {
	m{^i/(.*)}s ? SOAP::Data->type(int => $1) : SOAP::Data->type(string => substr($_, 2))
} @args;
my $som = eval {
	XMLRPC::Lite->proxy($url, timeout => 10)->call($method, @params)
};
if (!defined $som) {
	(my $e = $@ || 'no answer') =~ s/\s+/ /g;
	print "error:$e\n";
} elsif (!ref $som) {
	print "error:$som\n";
} elsif ($som->fault) {
	print 'fault:', $som->faultcode, ':', $som->faultstring, "\n";
} else {
	my $v = $som->result;
	print 'value:', (defined $v ? $v : 'undef'), "\n";
}
