# A Citus cluster for the Citus suite: a coordinator and two workers, each a
# PostgreSQL::Test::Cluster node on 127.0.0.1 (trust), with Citus and
# broker_seats preloaded, the workers added, and broker_seats distributed
# with one member table (docs/citus.md, in the same order).
package CitusCluster;
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

sub node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
listen_addresses = '127.0.0.1'
shared_preload_libraries = 'citus,broker_seats'
broker_seats.database = 'postgres'
max_connections = 100
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION citus');
	return $node;
}

# Returns (coordinator, worker1, worker2), the member table crm_members
# distributed by its text org column, the seats tables with it, attached.
sub start
{
	my ($prefix) = @_;
	my $coordinator = node("${prefix}_coordinator");
	my @workers = map { node("${prefix}_worker$_") } 1 .. 2;
	$coordinator->safe_psql('postgres',
		'SELECT citus_set_coordinator_host(\'127.0.0.1\', ' . $coordinator->port . ')');
	$coordinator->safe_psql('postgres', "SELECT citus_add_node('127.0.0.1', " . $_->port . ')') for @workers;
	$coordinator->safe_psql('postgres', q{
		CREATE EXTENSION broker_seats;
		CREATE TABLE crm_members (id bigserial, org_id text NOT NULL, role text NOT NULL,
		                          active boolean NOT NULL DEFAULT true, PRIMARY KEY (org_id, id));
		SELECT create_distributed_table('crm_members', 'org_id');
		SELECT seats.distribute('crm_members');
		SELECT seats.attach('crm_members');
		SELECT seats.create_plan('pro', 10);
		-- The application: a role with its member table's rights only.
		CREATE ROLE app LOGIN;
		GRANT SELECT, INSERT, UPDATE, DELETE ON crm_members TO app;
		GRANT USAGE ON SEQUENCE crm_members_id_seq TO app;
		-- One attempt at a broker; SB001 counted, not raised.
		CREATE FUNCTION try_insert(p_org text) RETURNS boolean LANGUAGE plpgsql AS $$
		BEGIN
		  INSERT INTO crm_members (org_id, role) VALUES (p_org, 'broker');
		  RETURN true;
		EXCEPTION WHEN SQLSTATE 'SB001' THEN
		  RETURN false;
		END $$;
	});
	return ($coordinator, @workers);
}

# The node (port) holding an org's shard.
sub worker_of
{
	my ($coordinator, $org) = @_;
	return $coordinator->safe_psql('postgres', qq{
		SELECT p.nodeport FROM pg_dist_shard_placement p
		 WHERE p.shardid = get_shard_id_for_distribution_column('crm_members', '$org')});
}

# pgbench through a node: clients x transactions of one script; returns
# (exit code, stdout, stderr). $user: the role (default: the superuser).
sub pgbench
{
	my ($node, $clients, $transactions, $script, $user) = @_;
	my $file = PostgreSQL::Test::Utils::tempdir() . '/script.sql';
	PostgreSQL::Test::Utils::append_to_file($file, $script);
	my ($out, $err) = ('', '');
	IPC::Run::run([ $node->installed_command('pgbench'), '-n', '-c', $clients, '-j', $clients,
			'-t', $transactions, '-f', $file, '-h', $node->host, '-p', $node->port,
			($user ? ('-U', $user) : ()), 'postgres' ],
		'>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# The same in the background: an IPC::Run harness to finish().
sub pgbench_start
{
	my ($node, $clients, $transactions, $script, $out, $err) = @_;
	my $file = PostgreSQL::Test::Utils::tempdir() . '/script.sql';
	PostgreSQL::Test::Utils::append_to_file($file, $script);
	return IPC::Run::start([ $node->installed_command('pgbench'), '-n', '-c', $clients, '-j', $clients,
			'-t', $transactions, '-f', $file, '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', $out, '2>', $err);
}

1;
