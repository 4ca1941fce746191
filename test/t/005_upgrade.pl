# ALTER EXTENSION broker_seats UPDATE from the released 1.0 gives the same
# schema as a fresh install of the current version, compared from the
# catalogs (functions with signatures, bodies, rights and proconfig; tables
# with columns, defaults and constraints; indexes; triggers; views; types;
# event triggers; dump configuration), and keeps the data and enforcement.
# Any change made to the install sources and not to the upgrade script (or
# the other way round) fails here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->start;

my $current = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'broker_seats'});

# One row per catalog fact about schema seats, sorted: equal text means
# equal schemas.
my $fingerprint_sql = q{
WITH ns AS (SELECT 'seats'::regnamespace AS oid)
SELECT x FROM (
  SELECT 'function ' || p.oid::regprocedure::text || ' returns ' || pg_get_function_result(p.oid)
         || ' kind ' || p.prokind::text || ' volatile ' || p.provolatile::text || ' strict ' || p.proisstrict
         || ' secdef ' || p.prosecdef || ' config ' || coalesce(array_to_string(p.proconfig, ','), '')
         || ' acl ' || coalesce(array_to_string(p.proacl, ','), 'default')
         || ' args ' || pg_get_function_arguments(p.oid)
         || ' lang ' || l.lanname || ' src ' || md5(p.prosrc) AS x
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang, ns WHERE p.pronamespace = ns.oid
  UNION ALL
  SELECT 'relation ' || c.relname || ' kind ' || c.relkind::text || ' acl '
         || coalesce(array_to_string(c.relacl, ','), 'default')
    FROM pg_class c, ns WHERE c.relnamespace = ns.oid
  UNION ALL
  SELECT 'column ' || c.relname || '.' || a.attnum || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' notnull ' || a.attnotnull || ' default ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum, ns
   WHERE c.relnamespace = ns.oid AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'c', 'S')
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(co.oid)
    FROM pg_constraint co, ns WHERE co.connamespace = ns.oid
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid, ns WHERE c.relnamespace = ns.oid
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid, ns WHERE c.relnamespace = ns.oid AND NOT t.tgisinternal
  UNION ALL
  SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid)
    FROM pg_class c, ns WHERE c.relnamespace = ns.oid AND c.relkind = 'v'
  UNION ALL
  SELECT 'type ' || t.typname || ' ' || t.typtype::text
    FROM pg_type t, ns WHERE t.typnamespace = ns.oid AND t.typtype <> 'b'
  UNION ALL
  SELECT 'event trigger ' || e.evtname || ' on ' || e.evtevent || ' ' || e.evtfoid::regproc::text || ' '
         || e.evtenabled::text || ' tags ' || coalesce(array_to_string(e.evttags, ','), '')
    FROM pg_event_trigger e
  UNION ALL
  SELECT 'dumped ' || cfg::regclass::text || ' ' || coalesce(e.extcondition[i], '')
    FROM pg_extension e, unnest(e.extconfig) WITH ORDINALITY AS u(cfg, i) WHERE e.extname = 'broker_seats'
  UNION ALL
  SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
    FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
   WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'broker_seats' AND d.deptype = 'e'
) f ORDER BY x COLLATE "C"
};

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION broker_seats');
my $fresh = $node->safe_psql('fresh', $fingerprint_sql);

# A 1.0 database in use: plans, subscriptions, changes, events, brokers.
$node->safe_psql('postgres', 'CREATE DATABASE upgraded');
$node->safe_psql('upgraded', q{
  CREATE EXTENSION broker_seats VERSION '1.0';
  CREATE TABLE members (id int PRIMARY KEY, org_id bigint NOT NULL, role text, active boolean);
  SELECT seats.create_plan('pro', 49.90);
  SELECT seats.onboard('1', 'pro', 2, '2026-11-01');
  SELECT seats.onboard('2', 'pro', 1, '2026-11-01');
  SELECT seats.attach('members');
  INSERT INTO members VALUES (1, 1, 'broker', true), (2, 1, 'owner', true), (3, 2, 'broker', true);
  SELECT seats.upgrade('1', 3, 'up-1', '2026-11-20 12:00-03');
  SELECT seats.schedule_downgrade('1', 2, 'down-1');
});
is($node->safe_psql('upgraded', q{SELECT extversion FROM pg_extension WHERE extname = 'broker_seats'}),
	'1.0', 'installed as 1.0');
my $data_sql = q{
  SELECT (SELECT string_agg(org || ':' || seats_used || '/' || seat_limit, ' ' ORDER BY org) FROM seats.subscription)
         || ' changes ' || (SELECT string_agg(id || kind || status || coalesce(amount::text, '-'), ',' ORDER BY id) FROM seats.change)
         || ' events ' || (SELECT string_agg(coalesce(nullif(org, ''), '<global>') || ':' || kind || ':'
                                             || encode(hash, 'hex'), ',' ORDER BY id) FROM seats.event)
};
my $data_before = $node->safe_psql('upgraded', $data_sql);

$node->safe_psql('upgraded', 'ALTER EXTENSION broker_seats UPDATE');
is($node->safe_psql('upgraded', q{SELECT extversion FROM pg_extension WHERE extname = 'broker_seats'}),
	$current, "updated to $current");
my $upgraded = $node->safe_psql('upgraded', $fingerprint_sql);

my @fresh = split /\n/, $fresh;
my @upgraded = split /\n/, $upgraded;
my %in_fresh = map { $_ => 1 } @fresh;
my %in_upgraded = map { $_ => 1 } @upgraded;
my @missing = grep { !$in_upgraded{$_} } @fresh;
my @extra = grep { !$in_fresh{$_} } @upgraded;
ok(scalar(@fresh) > 100, 'the fingerprint sees the schema (' . scalar(@fresh) . ' facts)');
is(join("\n", @missing), '', 'nothing of a fresh install is missing after the update');
is(join("\n", @extra), '', 'the update leaves nothing a fresh install does not have');

is($node->safe_psql('upgraded', $data_sql), $data_before, 'plans, subscriptions, changes and events (the global chain now keyed by \'\', hashes unchanged) survive');

# Enforcement survives: the triggers of 1.0 call the new library.
my ($rc, $out, $err) = $node->psql('upgraded', q{INSERT INTO members VALUES (4, 2, 'broker', true)});
like($err, qr{2: 1/1}, 'the hard limit still holds after the update');
$node->safe_psql('upgraded', q{INSERT INTO members VALUES (5, 1, 'broker', true)});
is($node->safe_psql('upgraded', q{SELECT seats_used FROM seats.subscription WHERE org = '1'}),
	'2', 'a broker within the limit is counted');
is($node->safe_psql('upgraded', q{SELECT count(*) FILTER (WHERE fixed) FROM seats.revalidate()}),
	'0', 'the counters agree with a recount after the update');
($rc, $out, $err) = $node->psql('upgraded', q{ALTER TABLE members DISABLE TRIGGER broker_seats_insert});
like($err, qr/cannot be disabled/, 'the DDL guard of the new version is in force');

$node->stop;
done_testing();
