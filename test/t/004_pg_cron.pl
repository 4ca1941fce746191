# pg_cron as an optional companion: the README's one cron.schedule line
# schedules the turnover, and the scheduled command really turns an overdue
# subscription over on a cluster with pg_cron preloaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The line, taken from the README itself (run-tap.sh copies it next to t/).
my $readme = PostgreSQL::Test::Utils::slurp_file('README.md');
my ($line) = $readme =~ /^(SELECT cron\.schedule\('broker-seats-turnover'.*;)$/m;
ok(defined $line, 'the README shows the cron.schedule line');

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;

$node->safe_psql('postgres', q{
  CREATE EXTENSION pg_cron;
  CREATE EXTENSION broker_seats;
  SELECT seats.create_plan('p', 10);
  SELECT seats.onboard('overdue', 'p', 3, '2026-01-01');
  SELECT seats.schedule_downgrade('overdue', 2);
  -- Put the subscription a cycle behind, as if the job had not run.
  UPDATE seats.subscription
     SET cycle_start = cycle_start - interval '2 months', cycle_end = cycle_end - interval '2 months'
   WHERE org = 'overdue';
  UPDATE seats.change SET effective_at = (SELECT cycle_end FROM seats.subscription WHERE org = 'overdue')
   WHERE kind = 'downgrade';
});

my $job = $node->safe_psql('postgres', $line);
like($job, qr/^\d+$/, "the README line schedules job $job");
is($node->safe_psql('postgres', "SELECT schedule || ' ' || command FROM cron.job WHERE jobid = $job"),
	'*/15 * * * * CALL seats.close_due_cycles()', 'every 15 minutes, the turnover procedure');

# Run the same job every minute so the test need not wait a quarter hour.
$node->safe_psql('postgres', "SELECT cron.alter_job($job, schedule := '* * * * *')");
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM cron.job_run_details WHERE jobid = $job AND status IN ('succeeded', 'failed')"),
	'the job ran');
is($node->safe_psql('postgres',
	"SELECT status || coalesce(': ' || nullif(return_message, 'CALL'), '') FROM cron.job_run_details WHERE jobid = $job ORDER BY runid LIMIT 1"),
	'succeeded', 'the job succeeded');
is($node->safe_psql('postgres', q{SELECT cycle_end > now() FROM seats.subscription WHERE org = 'overdue'}),
	't', 'the overdue subscription was turned over');
is($node->safe_psql('postgres', q{SELECT status FROM seats.change WHERE kind = 'downgrade'}),
	'applied', 'its downgrade was applied');

$node->stop;
done_testing();
