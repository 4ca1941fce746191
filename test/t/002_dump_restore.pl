# pg_dump / pg_restore round-trips the extension's state: plans,
# subscriptions, counters, changes (reverts and their credits included), the
# audit chain, incidents, freezes, changed settings, customer languages and
# the attachments; the chain verifies and the restored database enforces
# the limit at once (partitions included).
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
# Runbook §6-§7 state: an incident, a revert with its credit, freezes (one
# org and global), a changed threshold, a customer language.
$node->safe_psql('postgres', q{
  SELECT seats.upgrade('b', 4, 'b-up');
  SELECT seats.open_incident('P1', 'wrong upgrade', 'b');
  SELECT seats.revert_change((SELECT id FROM seats.change WHERE request_key = 'b-up'),
                             (SELECT max(id) FROM seats.incident), 'customer did not ask');
  SELECT seats.open_incident('P2', 'slow quotes');
  SELECT seats.freeze('investigating', 'a', (SELECT min(id) FROM seats.incident));
  SELECT seats.freeze('system-wide check');
  SELECT seats.set_setting('upgrade_sla', '45 minutes');
  SELECT seats.set_customer_language('1', 'en');
});
my $state_sql = q{SELECT
  (SELECT string_agg(id || kind || status || coalesce(amount::text, '-') || coalesce(reverts::text, '-'), ',' ORDER BY id) FROM seats.change)
  || ' | ' || (SELECT string_agg(id || severity || coalesce(org, '-') || (closed_at IS NULL), ',' ORDER BY id) FROM seats.incident)
  || ' | ' || (SELECT string_agg(org || frozen || coalesce(frozen_reason, '-') || coalesce(language, '-'), ',' ORDER BY org) FROM seats.subscription)
  || ' | ' || (SELECT reason FROM seats.global_freeze)
  || ' | ' || (SELECT string_agg(name || '=' || value, ',') FROM seats.setting)};
my $state = $node->safe_psql('postgres', $state_sql);

my $usage_sql = q{SELECT string_agg(org || ':' || seats_used || '/' || seat_limit, ' ' ORDER BY org) FROM seats.usage};
my $before = $node->safe_psql('postgres', $usage_sql);
is($before, '1:1/2 a:1/1 b:2/3', 'usage before the dump');

my $dump = $node->basedir . '/db.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ], 'pg_restore');

is($node->safe_psql('restored', $usage_sql), $before, 'usage restored');
is($node->safe_psql('restored', $state_sql), $state,
	'changes, reverts, incidents, freezes, settings and languages restored');
is($node->safe_psql('restored', q{SELECT bool_and(ok) FROM seats.verify_audit()}), 't',
	'every audit chain verifies after restore');
my (undef, undef, $frozen_err) = $node->psql('restored', q{SELECT seats.upgrade('1', 5)});
like($frozen_err, qr/frozen system-wide/, 'the global freeze holds after restore');
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
like($err, qr/ERROR:.*limit of active brokers/, 'the limit holds after restore, in the language org 1 was given');
($ret, $out, $err) = $node->psql('restored', q{INSERT INTO pmembers_a VALUES (9, 'a', 'broker', NULL)});
like($err, qr/ERROR:.*limite de corretores ativos/, 'the limit holds on a restored partition');
# New audit events continue the restored chain.
$node->safe_psql('restored', q{SELECT seats.unfreeze()});
$node->safe_psql('restored', q{SELECT seats.onboard('c', 'pro', 1)});
is($node->safe_psql('restored', q{
  SELECT bool_and(e.hash = seats._event_hash(e.prev_hash, e.id, nullif(e.org, ''), e.kind, e.at, e.actor, e.change_id, e.detail))
    FROM seats.event e}), 't', 'audit hashes verify after restore');

$node->stop;
done_testing();
