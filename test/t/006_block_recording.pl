# Blocks are recorded although their transaction rolls back (SPEC §5): with
# the library preloaded, every SB001 goes to a shared-memory queue that the
# extension's background worker writes to seats.event. A rolled-back block
# is there within 2 s; two sessions blocked at once are both recorded; a
# burst larger than the queue is counted as dropped and no writer waits;
# a clean restart loses nothing queued; an immediate stop corrupts neither
# the queue nor the audit chain; a terminated worker comes back.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('blocks');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'broker_seats'
broker_seats.block_flush_interval = 200ms
broker_seats.block_queue_size = 16
});
$node->start;

$node->safe_psql('postgres', q{
  CREATE EXTENSION broker_seats;
  CREATE TABLE members (id serial PRIMARY KEY, org_id text, role text, active boolean DEFAULT true);
  SELECT seats.create_plan('pro', 10);
  SELECT seats.onboard('full', 'pro', 1);
  SELECT seats.attach('members');
  INSERT INTO members (org_id, role) VALUES ('full', 'broker');
});

my $blocked_sql = q{INSERT INTO members (org_id, role) VALUES ('full', 'broker')};
my $events_sql = q{SELECT count(*) FROM seats.event WHERE org = 'full' AND kind = 'seat_blocked'};
# Blocks, not events: under a storm the recorder groups an org's blocks.
my $blocks_sql = q{SELECT sum(seats._blocks_of(detail)) FROM seats.event WHERE org = 'full' AND kind = 'seat_blocked'};

is($node->safe_psql('postgres', q{SELECT enabled FROM seats._block_recording()}), 't', 'block recording is on');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'broker_seats block recorder'}),
	'1', 'the recorder shows in pg_stat_activity under its name');

# 1. A rolled-back block is recorded within 2 s.
my ($rc, $out, $err) = $node->psql('postgres', "BEGIN; $blocked_sql; COMMIT;");
like($err, qr/1\/1/, 'the insert is refused (SB001)');
my $start = time;
ok($node->poll_query_until('postgres', "SELECT ($events_sql) = 1"), 'the block is in seats.event');
cmp_ok(time - $start, '<', 2, 'within 2 seconds');
is($node->safe_psql('postgres',
	q{SELECT detail->>'table' || ' ' || (detail->>'role') || ' ' || (detail->>'requested') || ' '
	         || (detail->>'used') || '/' || (detail->>'limit')
	    FROM seats.event WHERE org = 'full' AND kind = 'seat_blocked'}),
	'public.members broker 1 1/1', 'with the member table, role, requested seats and used/limit');
is($node->safe_psql('postgres',
	q{SELECT block_episode_started_at IS NOT NULL AND block_episode_resolved_at IS NULL FROM seats.subscription WHERE org = 'full'}),
	't', 'the block opened an episode');

# With the recorder on, neither alerts nor the checklist report it off.
is($node->safe_psql('postgres', q{SELECT count(*) FROM seats.alerts() WHERE kind LIKE 'block%'}), '0',
	'no block_recording_off or blocks_dropped alert while recording works');
is($node->safe_psql('postgres', q{SELECT status FROM seats.daily_checklist() WHERE item = 'audit_integrity'}),
	'ok', 'the checklist finds the audit trail and block recording in order');

# 2. Two sessions blocked on the same org at once: both recorded.
my $s1 = $node->background_psql('postgres', on_error_stop => 0);
my $s2 = $node->background_psql('postgres', on_error_stop => 0);
$s1->query_safe('BEGIN');
$s2->query_safe('BEGIN');
$s1->query("$blocked_sql");
$s2->query("$blocked_sql");
$s1->query('ROLLBACK');
$s2->query('ROLLBACK');
$s1->quit;
$s2->quit;
ok($node->poll_query_until('postgres', "SELECT ($events_sql) = 3"), 'both concurrent blocks are recorded');

# 3. A burst larger than the queue (16): counted, never waited for.
# A pager LISTENs on seats_alerts: the burst is a block spike, announced once.
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN seats_alerts');
my ($before_recorded, $before_dropped) = split /\|/,
	$node->safe_psql('postgres', q{SELECT recorded, dropped FROM seats._block_recording()});
# The recorder is stopped (SIGSTOP) so that the burst overflows the queue
# for certain; the writers never notice.
my $recorder_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'broker_seats block recorder'});
kill 'STOP', $recorder_pid;
$start = time;
$node->safe_psql('postgres', qq{
  DO \$\$ BEGIN
    FOR i IN 1..200 LOOP
      BEGIN $blocked_sql; EXCEPTION WHEN sqlstate 'SB001' THEN NULL; END;
    END LOOP;
  END \$\$});
my $burst_time = time - $start;
kill 'CONT', $recorder_pid;
cmp_ok($burst_time, '<', 5, "200 refused writes took $burst_time s: no writer waited on the queue");
ok($node->poll_query_until('postgres', q{SELECT queued = 0 FROM seats._block_recording()}), 'the queue drains');
my ($recorded, $dropped) = split /\|/,
	$node->safe_psql('postgres', q{SELECT recorded, dropped FROM seats._block_recording()});
cmp_ok($dropped - $before_dropped, '>', 0, 'blocks beyond the queue are counted as dropped');
is(($recorded - $before_recorded) + ($dropped - $before_dropped), 200, 'every block is recorded or counted');
is($node->safe_psql('postgres', $blocks_sql), 3 + ($recorded - $before_recorded), 'recorded blocks are in seats.event');
cmp_ok($node->safe_psql('postgres', $events_sql), '<', 3 + ($recorded - $before_recorded),
	'the storm was written as fewer, grouped events');
is($node->safe_psql('postgres', q{SELECT kind FROM seats.alerts() WHERE kind IN ('blocks_dropped', 'block_recording_off')}),
	'blocks_dropped', 'alerts report the dropped blocks, recording stays on');
like($node->safe_psql('postgres', q{SELECT detail FROM seats.alerts() WHERE kind = 'blocks_dropped'}),
	qr/^\d+ blocked attempt\(s\) were not recorded/, 'with how many');
is($node->safe_psql('postgres', q{SELECT string_agg(coalesce(org, 'all'), ',' ORDER BY org NULLS FIRST) FROM seats.alerts() WHERE kind = 'block_spike'}),
	'all,full', 'the burst is a block spike (for the org and for all)');
my $notified = '';
for (my $waited = 0; $waited < 10 && $notified !~ /"org": "full"/; $waited += 0.2) {
	$notified .= $listener->query('SELECT 1');
	select(undef, undef, undef, 0.2);
}
$notified .= $listener->query('SELECT 1');
like($notified, qr/"org": "full"/, 'the spike was announced on NOTIFY seats_alerts');
like($notified, qr/Asynchronous notification "seats_alerts" with payload ".*"kind": "block_spike"/,
	'with a JSON payload naming its kind');
my @spike_notices = ($notified =~ /"org": "full"/g);
is(scalar @spike_notices, 1, 'once, however many blocks follow');
$listener->quit;
is($node->safe_psql('postgres', q{SELECT status FROM seats.daily_checklist() WHERE item = 'audit_integrity'}),
	'attention', 'the checklist asks to look at the dropped blocks');

# 4. A clean restart loses nothing queued: the recorder drains at shutdown.
$node->safe_psql('postgres', q{ALTER SYSTEM SET broker_seats.block_flush_interval = '1h'});
$node->reload;
sleep 1;
my $events_before = $node->safe_psql('postgres', $events_sql);
$node->psql('postgres', $blocked_sql) for 1 .. 3;
is($node->safe_psql('postgres', q{SELECT queued FROM seats._block_recording()}), '3', 'three blocks wait in the queue');
$node->restart(mode => 'fast');
is($node->safe_psql('postgres', $events_sql), $events_before + 3, 'after pg_ctl restart -m fast they are recorded');

# 5. An immediate stop: queued blocks may be lost, nothing is corrupted.
$node->psql('postgres', $blocked_sql) for 1 .. 2;
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', q{SELECT bool_and(ok) FROM seats.verify_audit()}), 't', 'the audit chains verify after a crash');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET broker_seats.block_flush_interval});
$node->reload;
$events_before = $node->safe_psql('postgres', $events_sql);
$node->psql('postgres', $blocked_sql);
ok($node->poll_query_until('postgres', "SELECT ($events_sql) = $events_before + 1"), 'recording works after the crash');

# 6. The worker comes back after pg_terminate_backend.
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'broker_seats block recorder'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'broker_seats block recorder' AND pid <> $pid"),
	'a terminated recorder is restarted');
$events_before = $node->safe_psql('postgres', $events_sql);
$node->psql('postgres', $blocked_sql);
ok($node->poll_query_until('postgres', "SELECT ($events_sql) = $events_before + 1"), 'and records again');

# The recorder runs as a superuser: a search_path given to the database
# (by its owner, say) must not put someone else's functions in its way.
$node->safe_psql('postgres', q{
  CREATE TABLE pwned (at timestamptz);
  CREATE SCHEMA evil;
  CREATE FUNCTION evil.nextval(regclass) RETURNS bigint LANGUAGE sql
    AS $$ INSERT INTO public.pwned VALUES (now()); SELECT pg_catalog.nextval($1) $$;
  CREATE FUNCTION evil.jsonb_build_object(VARIADIC text[]) RETURNS jsonb LANGUAGE sql
    AS $$ INSERT INTO public.pwned VALUES (now()); SELECT '{}'::jsonb $$;
  ALTER DATABASE postgres SET search_path = evil, pg_catalog, public;
  SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'broker_seats block recorder';
});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'broker_seats block recorder'}),
	'the recorder reconnects (with the database\'s search_path set)');
$events_before = $node->safe_psql('postgres', $events_sql);
$node->psql('postgres', "SET search_path = public; $blocked_sql");
ok($node->poll_query_until('postgres', "SELECT ($events_sql) = $events_before + 1"), 'the block is recorded');
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.pwned}), '0',
	'and no function of the search_path the database was given ran as the recorder');
$node->safe_psql('postgres', q{
  ALTER DATABASE postgres RESET search_path;
  DROP SCHEMA evil CASCADE;
  DROP TABLE pwned;
});

# 7. Block episodes end at the next seat acquisition (not one rolled back)
# or upgrade; cycle_report averages their resolution.
$node->safe_psql('postgres', q{SELECT seats.onboard('ep', 'pro', 1)});
$node->safe_psql('postgres', q{INSERT INTO members (org_id, role) VALUES ('ep', 'broker')});
$node->psql('postgres', q{INSERT INTO members (org_id, role) VALUES ('ep', 'broker')});
ok($node->poll_query_until('postgres',
	q{SELECT block_episode_started_at IS NOT NULL FROM seats.subscription WHERE org = 'ep'}), 'a block opens an episode');
my $closed_sql = q{SELECT count(*) FROM seats.event WHERE org = 'ep' AND kind = 'block_episode_closed'};
$node->safe_psql('postgres', q{
  BEGIN;
  UPDATE members SET active = false WHERE org_id = 'ep';
  INSERT INTO members (org_id, role) VALUES ('ep', 'broker');
  ROLLBACK;});
sleep 1;
is($node->safe_psql('postgres', $closed_sql), '0', 'an acquisition that rolled back ends nothing');
$node->safe_psql('postgres', q{UPDATE members SET active = false WHERE org_id = 'ep'});
$node->safe_psql('postgres', q{INSERT INTO members (org_id, role) VALUES ('ep', 'broker')});
ok($node->poll_query_until('postgres', "SELECT ($closed_sql) = 1"), 'the seat acquisition that commits ends it');
is($node->safe_psql('postgres',
	q{SELECT block_episode_started_at IS NULL AND block_episode_resolved_at IS NULL AND block_episode_blocks = 0
	    FROM seats.subscription WHERE org = 'ep'}), 't', 'and the episode is cleared');
is($node->safe_psql('postgres',
	q{SELECT (detail->>'blocks')::int = 1 AND (detail->>'resolution_seconds')::numeric >= 0
	    FROM seats.event WHERE org = 'ep' AND kind = 'block_episode_closed'}), 't', 'with its blocks and resolution time');
$node->safe_psql('postgres', q{SELECT seats.upgrade('full', 5)});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM seats.event WHERE org = 'full' AND kind = 'block_episode_closed'}), 'an upgrade ends an episode');
is($node->safe_psql('postgres',
	q{SELECT mean_block_resolution IS NOT NULL AND blocks > 0
	    FROM seats.cycle_report(now() - interval '1 day', now() + interval '1 day')}),
	't', 'the cycle report counts the blocks and averages the episodes');
is($node->safe_psql('postgres', q{SELECT bool_and(ok) FROM seats.verify_audit()}), 't', 'every chain verifies');

$node->stop;
done_testing();
