<?php
// SPDX-License-Identifier: MIT
// One XML-RPC call through PHP's xmlrpc extension (Debian php-xmlrpc) for
// test_thirdparty.sh: php xmlrpc.php URL METHOD [s/STRING | i/INTEGER]...
// prints "value:V" (booleans 1/0, nil "NULL"), "fault:CODE:STRING" or "error:...".
$url = $argv[1];
$params = [];
foreach (array_slice($argv, 3) as $a) {
	$v = substr($a, 2);
	$params[] = substr($a, 0, 2) === 'i/' ? (int)$v : $v;
}
$ctx = stream_context_create(['http' => [
	'method' => 'POST',
	'header' => "Content-Type: text/xml\r\n",
	'content' => xmlrpc_encode_request($argv[2], $params),
	'timeout' => 10,
	'ignore_errors' => true,
]]);
$body = @file_get_contents($url, false, $ctx);
if ($body === false) {
	echo "error:no answer\n";
	exit(0);
}
$r = xmlrpc_decode($body);
if (is_array($r) && xmlrpc_is_fault($r)) {
	echo "fault:{$r['faultCode']}:{$r['faultString']}\n";
} elseif (is_null($r)) {
	echo "value:NULL\n";
} elseif (is_bool($r)) {
	echo 'value:', $r ? 1 : 0, "\n";
} elseif (is_scalar($r)) {
	echo "value:$r\n";
} else {
	echo 'value:', gettype($r), "\n";
}
