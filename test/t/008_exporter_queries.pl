# The postgres_exporter queries of docs/monitoring/queries.yaml:
# (a) every query runs as a role granted only seats_support and returns
#     exactly the columns it declares, numeric for every gauge;
# (b) the real prometheus-postgres-exporter, with that file and that role,
#     exposes the per-org usage, today's KPIs, the alerts and the checklist
#     with the right labels and values, and no scrape error.
# Blocks reach the KPIs and alerts only through the block recorder, so the
# node preloads the library.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;

# run-tap.sh copies docs/monitoring/ into its work dir; `make installcheck`
# runs from the source tree. Both set TESTDIR.
my $yaml_file = "$ENV{TESTDIR}/docs/monitoring/queries.yaml";
ok(-f $yaml_file, "the exporter queries are at $yaml_file")
  or die("no $yaml_file: scripts/run-tap.sh must copy docs/monitoring/");

# The YAML: with python3's yaml module when there is one (a full parser, as
# the exporter's), else with CPAN::Meta::YAML (core Perl; the file keeps to
# the subset it reads).
my ($queries, $parser);
{
	my ($out, $err) = ('', '');
	if (eval {
			IPC::Run::run([ 'python3', '-c',
					'import sys, json, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)', $yaml_file ],
				'<', '/dev/null', '>', \$out, '2>', \$err);
		})
	{
		($queries, $parser) = (decode_json($out), 'python3 yaml');
	}
	else
	{
		require CPAN::Meta::YAML;
		my $docs = CPAN::Meta::YAML->read($yaml_file) or die CPAN::Meta::YAML->errstr;
		($queries, $parser) = ($docs->[0], 'CPAN::Meta::YAML');
	}
}
is(ref $queries, 'HASH', "queries.yaml parses ($parser) to a map of metric namespaces");
my @namespaces = sort keys %$queries;
is_deeply(\@namespaces,
	[qw(broker_seats_alerts broker_seats_block_resolution broker_seats_checklist broker_seats_kpis
	    broker_seats_pending_downgrade broker_seats_usage)],
	'with the usage, pending downgrade, KPI, block resolution, alert and checklist namespaces');

my $node = PostgreSQL::Test::Cluster->new('exporter');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'broker_seats'
broker_seats.database = 'postgres'
broker_seats.block_flush_interval = 200ms
});
$node->start;

# The exporter's role, as the YAML's comment tells a DBA to create it.
$node->safe_psql('postgres', q{
  CREATE EXTENSION broker_seats;
  SELECT seats.create_standard_roles();
  CREATE ROLE postgres_exporter LOGIN;
  GRANT seats_support TO postgres_exporter;
});
is($node->safe_psql('postgres', q{
  SELECT r.rolsuper || ' ' || string_agg(g.rolname, ',')
    FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
   WHERE r.rolname = 'postgres_exporter' GROUP BY r.rolsuper}),
	'false seats_support', 'postgres_exporter is no superuser and is granted only seats_support');

# Five orgs, so that every metric has something to say:
#   sol  1/1, 12 blocks today (a block spike, for sol and for all orgs)
#   lua  1/1, one block, then a seat freed and taken: a block episode closed
#   rio  upgraded 3 -> 4 (1 used), then frozen
#   mar  2, downgrade to 1 scheduled (1 used: it fits)
#   sul  upgraded 1 -> 2, a second broker, the upgrade reverted under a P0
#        incident: 2/1, over the limit
$node->safe_psql('postgres', q{
  CREATE TABLE crm_members (id bigserial PRIMARY KEY, org_id text NOT NULL, role text NOT NULL,
                            active boolean NOT NULL DEFAULT true);
  SELECT seats.attach('crm_members');
  SELECT seats.create_plan('imob-pro', 89.90, 'BRL', 'monthly');
  SELECT seats.onboard('sol', 'imob-pro', 1);
  SELECT seats.onboard('lua', 'imob-pro', 1);
  SELECT seats.onboard('rio', 'imob-pro', 3);
  SELECT seats.onboard('mar', 'imob-pro', 2);
  SELECT seats.onboard('sul', 'imob-pro', 1);
  INSERT INTO crm_members (org_id, role)
  VALUES ('sol', 'broker'), ('sol', 'owner'), ('lua', 'broker'), ('rio', 'broker'), ('mar', 'broker'), ('sul', 'broker');
  SELECT seats.upgrade('rio', 4);
  SELECT seats.schedule_downgrade('mar', 1);
  SELECT seats.upgrade('sul', 2);
  INSERT INTO crm_members (org_id, role) VALUES ('sul', 'broker');
});
my $incident = $node->safe_psql('postgres', q{SELECT id FROM seats.open_incident('P0', 'upgrades charged twice', 'sul')});
$node->safe_psql('postgres', qq{
  SELECT seats.revert_change((SELECT id FROM seats.change WHERE org = 'sul' AND kind = 'upgrade'), $incident, 'charged twice');
  SELECT seats.freeze('reviewing the double charges', 'rio', $incident);
  DO \$\$ BEGIN
    FOR i IN 1..12 LOOP
      BEGIN
        INSERT INTO crm_members (org_id, role) VALUES ('sol', 'broker');
      EXCEPTION WHEN sqlstate 'SB001' THEN NULL;
      END;
    END LOOP;
  END \$\$;
});
my ($rc, $out, $err) = $node->psql('postgres', q{INSERT INTO crm_members (org_id, role) VALUES ('lua', 'broker')});
like($err, qr/1\/1/, "lua's second broker is refused");
ok($node->poll_query_until('postgres', q{SELECT block_episode_started_at IS NOT NULL FROM seats.subscription WHERE org = 'lua'}),
	"the recorder opened lua's block episode");
$node->safe_psql('postgres', q{
  UPDATE crm_members SET active = false WHERE org_id = 'lua';
  INSERT INTO crm_members (org_id, role) VALUES ('lua', 'broker');
});
ok($node->poll_query_until('postgres',
	q{SELECT blocks = 13 AND mean_block_resolution IS NOT NULL FROM seats.daily_kpis()}),
	"daily_kpis() shows the 13 blocks and lua's closed episode");

# (a) Every query, as the exporter's role.
my %numeric = map { $_ => 1 } ('smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision');
my %label_type = map { $_ => 1 } ('text', 'character varying', 'name');
for my $ns (@namespaces)
{
	my $q = $queries->{$ns};
	my @metrics = ref $q->{metrics} eq 'ARRAY' ? @{ $q->{metrics} } : ();
	ok(defined $q->{query} && @metrics, "$ns: has a query and metrics");
	my %usage;
	for my $m (@metrics)
	{
		my ($column, @more) = ref $m eq 'HASH' ? keys %$m : ();
		ok(defined $column && !@more && ref $m->{$column} eq 'HASH'
			  && ($m->{$column}{usage} // '') =~ /^(LABEL|GAUGE|COUNTER)$/ && ($m->{$column}{description} // '') ne '',
			"$ns: metric " . ($column // '?') . ' is {column: {usage: LABEL|GAUGE|COUNTER, description}}');
		$usage{$column} = $m->{$column}{usage} if defined $column;
	}
	ok(grep({ $_ eq 'GAUGE' || $_ eq 'COUNTER' } values %usage), "$ns: exports at least one value");
	ok(!exists $q->{master} || $q->{master} eq '1' || $q->{master} eq 'true', "$ns: master is true when given");

	my ($rc, $desc, $err) = $node->psql('postgres', "$q->{query}\n\\gdesc", extra_params => [ '-U', 'postgres_exporter' ]);
	is($err, '', "$ns: described as postgres_exporter");
	my %type = map { split /\|/, $_, 2 } split /\n/, $desc;
	is(join(',', sort keys %type), join(',', sort keys %usage), "$ns: returns exactly the declared columns");
	for my $column (sort keys %usage)
	{
		my $want = $usage{$column} eq 'LABEL' ? \%label_type : \%numeric;
		ok($want->{ $type{$column} // '' }, "$ns: $column ($usage{$column}) is " . ($type{$column} // 'missing'));
	}
	($rc, $out, $err) = $node->psql('postgres', $q->{query}, extra_params => [ '-U', 'postgres_exporter' ]);
	is("$rc $err", '0 ', "$ns: runs as postgres_exporter (seats_support only)");
	isnt($out, '', "$ns: and returns rows here");
}

# (b) The real exporter.
my ($exporter) = grep { defined && -x } $ENV{POSTGRES_EXPORTER}, '/usr/bin/prometheus-postgres-exporter',
	map { ("$_/prometheus-postgres-exporter", "$_/postgres_exporter") } split /:/, $ENV{PATH} // '';
my ($curl) = grep { -x } '/usr/bin/curl', map { "$_/curl" } split /:/, $ENV{PATH} // '';
my $exporter_h;
END
{
	local $?;    # reaping it must not change the test's exit status
	eval { $exporter_h->kill_kill } if $exporter_h;
}

SKIP:
{
	skip 'prometheus-postgres-exporter is not installed (apt-get install prometheus-postgres-exporter; or set POSTGRES_EXPORTER)', 1
	  unless $exporter;
	skip 'curl is not installed (apt-get install curl)', 1 unless $curl;

	my $help = '';
	IPC::Run::run([ $exporter, '--help' ], '<', '/dev/null', '>&', \$help);
	my $eport = PostgreSQL::Test::Cluster::get_free_port();
	my @flags = ("--extend.query-path=$yaml_file", "--web.listen-address=127.0.0.1:$eport");
	# Only our queries: the default and settings metrics, and the
	# collectors (database sizes, bgwriter), if this version has them.
	push @flags, grep { $help =~ /\Q$_\E\b/ } '--disable-default-metrics', '--disable-settings-metrics';
	push @flags, map { "--no-collector.$_" } $help =~ /^\s*--(?:\[no-\])?collector\.([\w.-]+)/mg;
	note "exporter flags: @flags";

	my $log = "$PostgreSQL::Test::Utils::log_path/008_exporter_queries_prometheus.log";
	{
		local $ENV{DATA_SOURCE_NAME} = sprintf('host=%s port=%d user=postgres_exporter dbname=postgres sslmode=disable',
			$node->host, $node->port);
		$exporter_h = IPC::Run::start([ $exporter, @flags ], '<', '/dev/null', '>&', $log);
	}

	my $metrics;
	for (1 .. 5 * $PostgreSQL::Test::Utils::timeout_default)
	{
		my ($body, $curl_err) = ('', '');
		IPC::Run::run([ $curl, '-sS', '--max-time', '10', "http://127.0.0.1:$eport/metrics" ],
			'<', '/dev/null', '>', \$body, '2>', \$curl_err);
		last if $? == 0 && ($metrics = $body) =~ /^pg_up 1$/m;
		$metrics = undef;
		select(undef, undef, undef, 0.2);
	}
	ok(defined $metrics, "the exporter on 127.0.0.1:$eport serves /metrics with pg_up 1")
	  or die("no metrics: see $log");

	my @series;
	for (split /\n/, $metrics)
	{
		next if /^#/;
		my ($name, $labels, $value) = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/ or next;
		my %labels;
		$labels{$1} = $2 while ($labels // '') =~ /(\w+)="((?:[^"\\]|\\.)*)"/g;
		push @series, { name => $name, labels => \%labels, value => $value };
	}
	# The series named so, with those labels (and any others: server).
	my $matching = sub {
		my ($name, %labels) = @_;
		return grep {
			my $s = $_;
			$s->{name} eq $name && !grep { ($s->{labels}{$_} // '') ne $labels{$_} } keys %labels
		} @series;
	};
	my $metric_is = sub {
		my ($name, $labels, $want) = @_;
		my @found = $matching->($name, %$labels);
		my $shown = $name . '{' . join(',', map { qq{$_="$labels->{$_}"} } sort keys %$labels) . '}';
		ok(@found == 1 && $found[0]{value} == $want, "$shown $want")
		  or diag explain \@found;
	};

	$metric_is->('pg_exporter_last_scrape_error', {}, 0);
	$metric_is->('pg_exporter_user_queries_load_error', {}, 0);
	my $exporter_log = PostgreSQL::Test::Utils::slurp_file($log);
	unlike($exporter_log, qr/Error running query|level=error/, 'the exporter logged no query error');
	like($metrics, qr/^# HELP broker_seats_usage_seats_used Active brokers using a seat$/m,
		'the descriptions are the HELP texts');

	my %usage = (
		sol => [ 1, 1, 0, 0, 0 ],
		lua => [ 1, 1, 0, 0, 0 ],
		rio => [ 4, 1, 3, 0, 1 ],
		mar => [ 2, 1, 1, 0, 0 ],
		sul => [ 1, 2, 0, 1, 0 ]);
	my @columns = qw(seat_limit seats_used seats_free over_limit frozen);
	for my $org (sort keys %usage)
	{
		for my $i (0 .. $#columns)
		{
			$metric_is->("broker_seats_usage_$columns[$i]", { org => $org, plan => 'imob-pro' }, $usage{$org}[$i]);
		}
	}
	is(scalar($matching->('broker_seats_usage_seats_used')), 5, 'one usage series per organization');

	$metric_is->('broker_seats_pending_downgrade_seat_limit', { org => 'mar', plan => 'imob-pro' }, 1);
	$metric_is->('broker_seats_pending_downgrade_effective_timestamp_seconds', { org => 'mar' },
		$node->safe_psql('postgres',
			q{SELECT extract(epoch FROM pending_downgrade_effective_at)::bigint FROM seats.usage WHERE org = 'mar'}));
	is(scalar($matching->('broker_seats_pending_downgrade_seat_limit')), 1, 'only the org with a pending downgrade');

	$metric_is->('broker_seats_kpis_blocks', {}, 13);
	$metric_is->('broker_seats_kpis_upgrades_applied', {}, 2);
	$metric_is->('broker_seats_kpis_downgrades_scheduled', {}, 1);
	my ($resolution) = $matching->('broker_seats_block_resolution_mean_seconds');
	my $want_resolution = $node->safe_psql('postgres', q{SELECT extract(epoch FROM mean_block_resolution) FROM seats.daily_kpis()});
	ok($resolution && $resolution->{value} > 0 && abs($resolution->{value} - $want_resolution) < 0.001,
		"broker_seats_block_resolution_mean_seconds is lua's episode, $want_resolution s");

	$metric_is->('broker_seats_alerts_count', { kind => 'block_spike', org => 'sol', severity => 'warning' }, 1);
	$metric_is->('broker_seats_alerts_count', { kind => 'block_spike', org => '', severity => 'warning' }, 1);
	$metric_is->('broker_seats_alerts_count', { kind => 'incident_p0', org => 'sul', severity => 'critical' }, 1);
	$metric_is->('broker_seats_alerts_count', { kind => 'over_limit', org => 'sul', severity => 'warning' }, 1);
	is(scalar($matching->('broker_seats_alerts_count')),
		$node->safe_psql('postgres', q{SELECT count(DISTINCT (kind, org, severity)) FROM seats.alerts()}),
		'one alert series per kind, org and severity of seats.alerts()');

	my %checklist = (open_incidents => 1, blocks_above_baseline => 1, pending_manual_upgrades => 0,
		downgrades_turning_soon => 0, audit_integrity => 0);
	$metric_is->('broker_seats_checklist_status', { item => $_ }, $checklist{$_}) for sort keys %checklist;

	$exporter_h->kill_kill;
	$exporter_h = undef;
}

$node->stop;
done_testing();
