# The SPEC API on Citus, through the coordinator, in and out of
# transaction blocks: onboarding, quote, upgrade with its request key,
# request and apply, downgrade with its NOTICE, cancel, revert, freeze and
# unfreeze, languages, the monitoring views and reports, block recording on
# the workers, ids that never collide across nodes, the DDL guard on a
# distributed member table, and the refusals that keep the layout whole.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use CitusCluster;

my ($coordinator, @workers) = CitusCluster::start('api');
sub sql { return $coordinator->safe_psql('postgres', $_[0]); }
sub fails
{
	my ($query, $pattern, $name) = @_;
	my ($rc, $out, $err) = $coordinator->psql('postgres', $query);
	ok($rc != 0 && $err =~ $pattern, $name) or diag("rc=$rc: $err");
}

# Onboarding and the hard limit.
sql(q{SELECT seats.onboard('alfa', 'pro', 2, '2030-11-01'), seats.onboard('beta', 'pro', 1, '2030-11-01')});
isnt(CitusCluster::worker_of($coordinator, 'alfa'), CitusCluster::worker_of($coordinator, 'beta'),
	'alfa and beta live on different workers');
sql(q{INSERT INTO crm_members (org_id, role) VALUES ('alfa', 'broker'), ('alfa', 'broker'), ('beta', 'broker')});
fails(q{INSERT INTO crm_members (org_id, role) VALUES ('alfa', 'broker')}, qr/limite/, 'alfa is full: SB001');
is(sql(q{SELECT string_agg(org || '=' || seats_used || '/' || seat_limit, ',' ORDER BY org) FROM seats.usage}),
	'alfa=2/2,beta=1/1', 'seats.usage through the coordinator');

# Quote and upgrade at a fixed time, idempotent by request key.
my $quote = sql(q{SELECT amount FROM seats.quote_upgrade('alfa', 4, '2030-11-21 12:00-03')});
ok($quote > 0, "quote_upgrade: $quote");
my $first = sql(q{SELECT id || ':' || amount FROM seats.upgrade('alfa', 4, 'order-1', '2030-11-21 12:00-03')});
my $again = sql(q{SELECT id || ':' || amount FROM seats.upgrade('alfa', 4, 'order-1', '2030-11-21 12:00-03')});
like($first, qr/:\Q$quote\E$/, 'the upgrade charges what the quote said');
is($again, $first, 'upgrade with the same request key: the same change, charged once');
is(sql(q{SELECT amount FROM seats.quote_upgrade('beta', 3, '2030-11-21 12:00-03')}),
	sql(q{SELECT amount FROM seats.quote_upgrade('beta', 3, '2030-11-21 12:00-03')}), 'quote is stable');
is(sql(q{SELECT count(*) FROM seats.change WHERE org = 'alfa' AND request_key = 'order-1'}), '1', 'one change row');

# Request and apply by id (from another transaction), in a transaction block too.
my $req = sql(q{SELECT id FROM seats.request_upgrade('beta', 3, 'req-1')});
is(sql("BEGIN; SELECT status FROM seats.apply_change($req); COMMIT;"), 'applied', 'apply_change in a transaction block');
is(sql(q{SELECT seat_limit FROM seats.subscription WHERE org = 'beta'}), '3', 'the requested upgrade applied');

# A downgrade that does not fit yet: its NOTICE comes back from the worker.
my ($rc, $out, $err) = $coordinator->psql('postgres', q{SELECT brokers_over_new_limit FROM seats.schedule_downgrade('alfa', 1)});
is($out, '1', 'schedule_downgrade: one broker over the new limit');
like($err, qr/NOTICE: .*more than the new limit of 1/, 'its NOTICE reaches the client');
my $down = sql(q{SELECT id FROM seats.change WHERE org = 'alfa' AND kind = 'downgrade' AND status = 'scheduled'});
is(sql("SELECT status FROM seats.cancel_change($down, 'customer called')"), 'cancelled', 'cancel_change');

# Freeze one org (on its worker), then everything (on the coordinator).
sql(q{SELECT seats.freeze('audit', 'beta')});
fails(q{SELECT seats.upgrade('beta', 5)}, qr/frozen/, 'a frozen org: no upgrade');
sql(q{SELECT seats.unfreeze('beta')});
is(sql(q{SELECT to_limit FROM seats.upgrade('beta', 5)}), '5', 'unfrozen: upgrades again');
my $incident = sql(q{SELECT id FROM seats.open_incident('P1', 'pricing bug')});
sql("SELECT seats.freeze('pricing bug', NULL, $incident)");
fails(q{SELECT seats.upgrade('alfa', 6)}, qr/frozen system-wide/, 'a global freeze reaches the workers');
sql(q{SELECT seats.unfreeze()});

# Revert the upgrade (limit back, credit), and revert_changes_since as a dry run.
my ($upgrade_id) = split /:/, $first;
is(sql("SELECT status FROM seats.revert_change($upgrade_id, $incident, 'wrong price')"), 'reverted', 'revert_change');
is(sql(q{SELECT seat_limit FROM seats.subscription WHERE org = 'alfa'}), '2', 'the limit is back');
like(sql("SELECT count(*) FROM seats.revert_changes_since('2000-01-01', $incident, 'check', NULL, true)"), qr/^\d+$/,
	'revert_changes_since (dry run) answers');

# Languages and customer texts.
sql(q{SELECT seats.set_customer_language('beta', 'en')});
like(sql(q{SELECT seats.customer_message('limit_reached', 'beta')}), qr/limit/i, 'customer_message in the org language');

# Monitoring: reports, KPIs, alerts, checklist, settings.
like(sql(q{SELECT upgrades_applied FROM seats.cycle_report('2000-01-01', '2100-01-01')}), qr/^\d+$/, 'cycle_report');
like(sql(q{SELECT upgrades_applied FROM seats.daily_kpis()}), qr/^\d+$/, 'daily_kpis');
is(sql(q{SELECT count(*) FROM seats.daily_checklist()}), '5', 'daily_checklist: its five items');
is(sql(q{SELECT count(*) FROM seats.alerts() WHERE kind = 'counter_drift'}), '0', 'alerts: no drift');
sql(q{SELECT seats.set_setting('upgrade_sla', '2 hours')});
is(sql(q{SELECT value FROM seats.settings WHERE name = 'upgrade_sla'}), '02:00:00', 'settings (a reference table)');

# Blocks are recorded by the recorder of the worker that refused them.
fails(q{INSERT INTO crm_members (org_id, role) VALUES ('alfa', 'broker')}, qr/limite/, 'another refusal');
my $recorded = 0;
for (1 .. 100)
{
	last if ($recorded = sql(q{SELECT count(*) FROM seats.event WHERE org = 'alfa' AND kind = 'seat_blocked'})) >= 2;
	select(undef, undef, undef, 0.1);
}
is($recorded, '2', 'both refusals of alfa recorded as seat_blocked on its worker');
is(sql(q{SELECT sum(blocks) FROM seats.daily_kpis()}) >= 2 ? 'ok' : 'no', 'ok', 'daily_kpis counts them');

# Ids made on different nodes never collide; every chain verifies.
is(sql(q{SELECT count(*) = count(DISTINCT id) FROM seats.change}), 't', 'change ids are unique across nodes');
is(sql(q{SELECT count(DISTINCT id >> 48) FROM seats.event WHERE org IN ('alfa', 'beta')}), '2',
	'events of orgs on two workers come from two id ranges');
is(sql(q{SELECT count(*) FILTER (WHERE NOT ok) FROM seats.verify_audit()}), '0', 'every audit chain verifies');

# The DDL guard on the distributed member table, and the refusals that keep
# the layout whole.
fails(q{SET citus.enable_unsafe_triggers = on; ALTER TABLE crm_members DISABLE TRIGGER broker_seats_insert},
	qr/cannot be disabled/, 'the DDL guard refuses disabling an enforcement trigger of a distributed table');
sql(q{ALTER TABLE crm_members ADD COLUMN note text});
is(sql(q{SELECT count(*) FROM crm_members}), '3', 'other DDL on the distributed table passes');
fails(q{SELECT seats.distribute('crm_members')}, qr/distributed already/, 'seats.distribute() twice: 55006');
sql(q{CREATE TABLE other_members (id bigserial, org_id bigint NOT NULL, role text NOT NULL, active boolean NOT NULL,
                                   PRIMARY KEY (org_id, id));
      SELECT create_distributed_table('other_members', 'org_id')});
fails(q{SELECT seats.attach('other_members')}, qr/not colocated with seats.subscription/,
	'a member table distributed by bigint cannot be attached');
my ($wrc, $wout, $werr) = $coordinator->psql('postgres', q{SELECT seats._lock_org('alfa')});
like($werr, qr/not on this node/, 'an org lock on the coordinator is refused (0A000)');

done_testing();
