# broker_seats on a Citus 13 cluster (a coordinator and two workers on
# loopback), laid out as docs/citus.md says: the member table distributed by
# its text org column, seats.distribute(), seats.attach(). Checks:
# - the hard limit under concurrent inserts through the coordinator, and on
#   a worker (through the distributed table and straight into a shard);
# - broker inserts racing upgrades of the same org: no XX000, exact counts;
# - a shard move (citus_move_shard_placement) under load keeps counts exact;
# - a turnover across both workers, by two runners at once, exactly once;
# - revalidate after writes sent straight to a worker around the triggers;
# - TRUNCATE gives the seats back; every audit chain verifies; pg_dump of
#   the coordinator works.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use CitusCluster;

my ($coordinator, @workers) = CitusCluster::start('citus');
my %node_at = map { $_->port => $_ } ($coordinator, @workers);
sub sql { return $coordinator->safe_psql('postgres', $_[0]); }

# 1. The hard limit under two concurrent clients through the coordinator,
# as the application's role (no right on the seats tables).
sql("SELECT seats.onboard('hammer', 'pro', 50)");
my ($rc, $out, $err) = CitusCluster::pgbench($coordinator, 2, 200, "SELECT try_insert('hammer');\n", 'app');
is($rc, 0, 'hammer: pgbench through the coordinator, as the application role, ran without errors') or diag($err);
is(sql("SELECT count(*) FROM crm_members WHERE org_id = 'hammer'"), '50', 'hammer: 400 attempts, exactly 50 brokers');
is(sql("SELECT seats_used || '/' || seat_limit FROM seats.subscription WHERE org = 'hammer'"), '50/50',
	'hammer: the counter equals the brokers');

# 2. On the worker holding the org: through the distributed table, and
# straight into its shard (the trigger is on the shard).
my $home = $node_at{ CitusCluster::worker_of($coordinator, 'hammer') };
my $shard = sql("SELECT shard_name('crm_members', get_shard_id_for_distribution_column('crm_members', 'hammer'))");
my ($wrc, $wout, $werr) = $home->psql('postgres', "INSERT INTO crm_members (org_id, role) VALUES ('hammer', 'broker')");
like($werr, qr/limite|limit/i, 'on a worker, through the distributed table: refused') or diag($werr);
($wrc, $wout, $werr) = $home->psql('postgres', "INSERT INTO $shard (id, org_id, role) VALUES (900000001, 'hammer', 'broker')");
like($werr, qr/limite|limit/i, "on a worker, straight into the shard $shard: refused") or diag($werr);
is(sql("SELECT count(*) FROM crm_members WHERE org_id = 'hammer'"), '50', 'still 50 brokers');

# 3. Inserts racing upgrades of the same org (the counter row written by the
# worker's trigger and by the upgrade, both on the org's worker).
sql("SELECT seats.onboard('race', 'pro', 1)");
sql(q{CREATE FUNCTION bump(p_org text) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE v int;
    BEGIN
      SELECT seat_limit INTO v FROM seats.subscription WHERE org = p_org;
      PERFORM seats.upgrade(p_org, v + 1);
    END $$});
my ($iout, $ierr, $uout, $uerr) = ('', '', '', '');
my $inserts = CitusCluster::pgbench_start($coordinator, 2, 150, "SELECT try_insert('race');\n", \$iout, \$ierr);
my $upgrades = CitusCluster::pgbench_start($coordinator, 1, 100, "SELECT bump('race');\n", \$uout, \$uerr);
$inserts->finish;
my $irc = $? >> 8;
$upgrades->finish;
my $urc = $? >> 8;
is($irc, 0, 'race: the inserting clients saw no error') or diag($ierr);
is($urc, 0, 'race: the upgrading client saw no error') or diag($uerr);
unlike($ierr . $uerr, qr/XX000|tuple concurrently updated/, 'race: no XX000');
is(sql("SELECT seat_limit FROM seats.subscription WHERE org = 'race'"), '101', 'race: 100 upgrades applied');
is(sql("SELECT (SELECT count(*) FROM crm_members WHERE org_id = 'race') = seats_used AND seats_used <= seat_limit
        FROM seats.subscription WHERE org = 'race'"), 't', 'race: the counter equals the brokers, within the limit');

# 4. A shard move under load.
sql("SELECT seats.onboard('mover', 'pro', 100)");
my $from = CitusCluster::worker_of($coordinator, 'mover');
my ($to) = grep { $_ != $from } map { $_->port } @workers;
my $shardid = sql("SELECT get_shard_id_for_distribution_column('crm_members', 'mover')");
my ($mout, $merr) = ('', '');
my $load = CitusCluster::pgbench_start($coordinator, 2, 150, "SELECT try_insert('mover');\n", \$mout, \$merr);
sql("SELECT citus_move_shard_placement($shardid, '127.0.0.1', $from, '127.0.0.1', $to, shard_transfer_mode => 'block_writes')");
$load->finish;
is($? >> 8, 0, 'move: the clients saw no error during the move') or diag($merr);
is(CitusCluster::worker_of($coordinator, 'mover'), $to, "move: the org's shards moved to the worker on port $to");
is(sql("SELECT count(*) FROM crm_members WHERE org_id = 'mover'"), '100', 'move: 300 attempts, exactly 100 brokers');
is(sql("SELECT seats_used FROM seats.subscription WHERE org = 'mover'"), '100', 'move: the counter is exact');
is(sql("SELECT try_insert('mover')"), 'f', 'move: the limit holds on the new worker');
is(sql("SELECT org || ':' || seats_used FROM seats.subscription WHERE org = 'mover' AND seats_used < seat_limit"), '',
	'move: no seat free');
sql("SELECT seats.upgrade('mover', 101)");
is(sql("SELECT try_insert('mover')"), 't', 'move: an upgrade on the new worker frees a seat');

# 5. A turnover across both workers, two runners at once, exactly once.
sql(q{SELECT count(seats.onboard('cyc' || g, 'pro', 3)) FROM generate_series(1, 20) g;
    INSERT INTO crm_members (org_id, role) SELECT 'cyc' || g, 'broker' FROM generate_series(1, 20) g;
    INSERT INTO crm_members (org_id, role) SELECT 'cyc' || g, 'broker' FROM generate_series(1, 20, 2) g});
sql(q{SELECT count(seats.schedule_downgrade('cyc' || g, 1)) FROM generate_series(1, 20) g});
is(sql(q{SELECT count(DISTINCT p.nodeport) FROM generate_series(1, 20) g, pg_dist_shard_placement p
        WHERE p.shardid = get_shard_id_for_distribution_column('crm_members', 'cyc' || g)}), '2',
	'turnover: the 20 orgs are on both workers');
my $as_of = sql("SELECT now() + interval '40 days'");
my @runs = map {
	IPC::Run::start([ $coordinator->installed_command('psql'), '-X', '-h', $coordinator->host, '-p', $coordinator->port,
			'-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', "CALL seats.close_due_cycles('$as_of', 5)" ],
		'>', \my $o, '2>', \my $e)
} 1 .. 2;
my $runs_ok = 1;
for (@runs) { $_->finish; $runs_ok &&= ($? == 0); }
ok($runs_ok, 'turnover: two concurrent runs both succeeded');
is(sql("SELECT count(*) FROM seats.turnover WHERE org LIKE 'cyc%'"), '20', 'turnover: one turnover per org');
is(sql("SELECT string_agg(outcome || '=' || n, ',' ORDER BY outcome) FROM
        (SELECT outcome, count(*) n FROM seats.turnover WHERE org LIKE 'cyc%' GROUP BY 1) x"),
	'applied=10,blocked=10', 'turnover: downgrades applied where brokers fit, blocked elsewhere');
is(sql("SELECT count(*) FROM seats.subscription WHERE org LIKE 'cyc%' AND seat_limit = 1"), '10',
	'turnover: the applied ones lowered the limit');
$coordinator->safe_psql('postgres', "CALL seats.close_due_cycles('$as_of', 5)");
is(sql("SELECT count(*) FROM seats.turnover WHERE org LIKE 'cyc%'"), '20', 'turnover: a re-run turns nothing twice');
is(sql("SELECT count(*) FROM seats.event WHERE org LIKE 'cyc%' AND kind LIKE 'downgrade_%' AND kind <> 'downgrade_scheduled'"),
	'20', 'turnover: one audit event per downgrade outcome');

# 6. Writes sent straight to a worker, around the triggers (a superuser's
# session_replication_role): counter_drift, then revalidate fixes it.
sql("SELECT seats.onboard('drift', 'pro', 10)");
sql("SELECT try_insert('drift')");
my $drift_home = $node_at{ CitusCluster::worker_of($coordinator, 'drift') };
my $drift_shard = sql("SELECT shard_name('crm_members', get_shard_id_for_distribution_column('crm_members', 'drift'))");
$drift_home->safe_psql('postgres', qq{SET session_replication_role = replica;
	INSERT INTO $drift_shard (id, org_id, role) VALUES (900000002, 'drift', 'broker'), (900000003, 'drift', 'broker')});
is(sql("SELECT count(*) FROM seats.alerts() WHERE kind = 'counter_drift' AND org = 'drift'"), '1',
	'drift: seats.alerts() reports the counter drift');
is(sql("SELECT counted || '/' || recorded || '/' || fixed FROM seats.revalidate() WHERE org = 'drift'"), '3/1/true',
	'drift: seats.revalidate() recounts on the worker and fixes it');
is(sql("SELECT count(*) FROM seats.revalidate() WHERE fixed"), '0', 'drift: no counter drifts any more');
is(sql("SELECT count(*) FROM seats.event WHERE org = 'drift' AND kind = 'counter_fixed'"), '1', 'drift: the fix is audited');

# 7. TRUNCATE gives every seat back; the audit chains verify.
sql('TRUNCATE crm_members');
is(sql('SELECT sum(seats_used) FROM seats.subscription'), '0', 'truncate: every seat given back');
is(sql('SELECT count(*) FILTER (WHERE NOT ok) || \'/\' || count(*) FROM seats.verify_audit()'),
	'0/' . sql('SELECT count(DISTINCT org) FROM seats.event'), 'audit: every chain verifies')
  or diag(sql('SELECT string_agg(org || \' at \' || first_bad_event, \', \') FROM seats.verify_audit() WHERE NOT ok'));

# 8. pg_dump of the coordinator (its metadata and the shells; the shards'
# rows are on the workers, docs/citus.md).
my ($drc, $dout, $derr) = ('', '', '');
IPC::Run::run([ $coordinator->installed_command('pg_dump'), '-h', $coordinator->host, '-p', $coordinator->port,
		'-d', 'postgres', '-Fp' ], '>', \$dout, '2>', \$derr);
is($? >> 8, 0, 'pg_dump of the coordinator works') or diag($derr);
like($dout, qr/CREATE EXTENSION IF NOT EXISTS broker_seats/, 'the dump carries the extension');

done_testing();
