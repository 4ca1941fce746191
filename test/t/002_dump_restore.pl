# pg_dump / pg_restore round-trips the extension's state: plans,
# subscriptions, counters, the audit chain and the attachments, and the
# restored database enforces the limit at once (partitions included).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
  CREATE EXTENSION broker_seats;
  CREATE TABLE members (id int PRIMARY KEY, org_id bigint NOT NULL, role text, active boolean);
  CREATE TABLE pmembers (id int, org_id text NOT NULL, role text, left_at timestamptz,
                         PRIMARY KEY (org_id, id)) PARTITION BY LIST (org_id);
  CREATE TABLE pmembers_a PARTITION OF pmembers FOR VALUES IN ('a');
  CREATE TABLE pmembers_b PARTITION OF pmembers FOR VALUES IN ('b');
  CREATE TABLE notes (member int REFERENCES members (id), body text);
  SELECT seats.create_plan('pro', 49.90);
  SELECT seats.onboard('1', 'pro', 2);
  SELECT seats.onboard('a', 'pro', 1);
  SELECT seats.onboard('b', 'pro', 3);
  SELECT seats.attach('members');
  SELECT seats.attach('pmembers', 'org_id', 'role', 'left_at');
  INSERT INTO members VALUES (1, 1, 'broker', true), (2, 1, 'owner', true), (3, 1, 'broker', false);
  INSERT INTO pmembers VALUES (1, 'a', 'broker', NULL), (2, 'b', 'broker', NULL), (3, 'b', 'broker', NULL);
});

my $usage_sql = q{SELECT string_agg(org || ':' || seats_used || '/' || seat_limit, ' ' ORDER BY org) FROM seats.usage};
my $before = $node->safe_psql('postgres', $usage_sql);
is($before, '1:1/2 a:1/1 b:2/3', 'usage before the dump');

my $dump = $node->basedir . '/db.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ], 'pg_restore');

is($node->safe_psql('restored', $usage_sql), $before, 'usage restored');
is($node->safe_psql('restored', q{SELECT string_agg(relid::text, ',' ORDER BY relid::text) FROM seats.attachment}),
	'members,pmembers', 'attachments restored');
is($node->safe_psql('restored',
	q{SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'broker\_seats\_%'}),
	'16', 'each attached relation has its four triggers, once');
is($node->safe_psql('restored', q{SELECT count(*) FROM seats.event}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM seats.event}), 'audit events restored');
is($node->safe_psql('restored', q{SELECT bool_and(fixed = false) FROM seats.revalidate()}), 't',
	'no drift after restore');

# Enforcement works in the restored database.
my ($ret, $out, $err) = $node->psql('restored', q{INSERT INTO members VALUES (4, 1, 'broker', true)});
is($ret, 0, 'a broker within the limit is accepted');
($ret, $out, $err) = $node->psql('restored', q{INSERT INTO members VALUES (5, 1, 'broker', true)});
like($err, qr/ERROR:.*limite de corretores ativos/, 'the limit holds after restore');
($ret, $out, $err) = $node->psql('restored', q{INSERT INTO pmembers_a VALUES (9, 'a', 'broker', NULL)});
like($err, qr/ERROR:.*limite de corretores ativos/, 'the limit holds on a restored partition');
# New audit events continue the restored chain.
$node->safe_psql('restored', q{SELECT seats.onboard('c', 'pro', 1)});
is($node->safe_psql('restored', q{
  SELECT bool_and(e.hash = seats._event_hash(e.prev_hash, e.id, nullif(e.org, ''), e.kind, e.at, e.actor, e.change_id, e.detail))
    FROM seats.event e}), 't', 'audit hashes verify after restore');

$node->stop;
done_testing();
