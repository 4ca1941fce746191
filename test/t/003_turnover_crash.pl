# A 10,000-org turnover killed with an immediate stop in the middle, then run
# again after the restart: every org is turned exactly once per cycle, with
# no duplicate change, turnover or event.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $orgs = 10_000;
my $node = PostgreSQL::Test::Cluster->new('turnover');
$node->init;
$node->start;

$node->safe_psql('postgres', qq{
  CREATE EXTENSION broker_seats;
  SELECT seats.create_plan('p', 10);
  SELECT count(seats.onboard('org' || g, 'p', 5, '2099-01-01')) FROM generate_series(1, $orgs) g;
  -- Half the orgs have a downgrade pending for the first turnover.
  SELECT count(seats.schedule_downgrade('org' || g, 3)) FROM generate_series(1, $orgs, 2) g;
});

# Two cycles are due (1 Feb and 1 Mar 2099). Small batches, so that some
# commit before the crash and some do not.
my $call = q{CALL seats.close_due_cycles('2099-03-15 00:00-03', 50)};
my ($out, $err) = ('', '');
my $run = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', $call ],
	'>', \$out, '2>', \$err);
ok($node->poll_query_until('postgres', 'SELECT count(*) >= 500 FROM seats.turnover'),
	'the turnover is under way');
$node->stop('immediate');
$run->finish;

$node->start;
my $partial = $node->safe_psql('postgres', 'SELECT count(*) FROM seats.turnover');
cmp_ok($partial, '>', 0, "some batches committed before the crash ($partial turnovers)");
cmp_ok($partial, '<', 2 * $orgs, 'the crash interrupted the run');
is($node->safe_psql('postgres', q{
  SELECT count(*) FROM seats.subscription s
   WHERE (SELECT count(*) FROM seats.turnover t WHERE t.org = s.org)
         <> CASE s.cycle_end WHEN '2099-01-01 00:00-03'::timestamptz + interval '1 month' THEN 0
                             WHEN '2099-03-01 00:00-03' THEN 1 ELSE 2 END}),
	'0', 'after the crash every subscription agrees with its turnovers');

$node->safe_psql('postgres', $call);
$node->safe_psql('postgres', $call);    # and once more: nothing changes

is($node->safe_psql('postgres', 'SELECT count(*) FROM seats.turnover'), 2 * $orgs, 'two turnovers per org');
is($node->safe_psql('postgres', 'SELECT count(*) FROM (SELECT DISTINCT org, cycle_end FROM seats.turnover) x'),
	2 * $orgs, 'no (org, cycle) turned twice');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM seats.subscription WHERE cycle_end <> '2099-04-01 00:00-03'}),
	'0', 'every subscription is in the April cycle');
is($node->safe_psql('postgres', q{SELECT count(*) FROM seats.change WHERE kind = 'downgrade' AND status = 'applied'}),
	$orgs / 2, 'each pending downgrade applied once');
is($node->safe_psql('postgres', q{SELECT count(*) FROM seats.event WHERE kind = 'downgrade_applied'}),
	$orgs / 2, 'one downgrade_applied event each');
is($node->safe_psql('postgres', q{SELECT count(*) FROM seats.subscription WHERE seat_limit <> CASE WHEN substr(org, 4)::int % 2 = 1 THEN 3 ELSE 5 END}),
	'0', 'limits as scheduled');
is($node->safe_psql('postgres', q{SELECT count(*) FROM seats.event WHERE kind = 'turnover_failed'}),
	'0', 'no turnover failed');

$node->stop;
done_testing();
