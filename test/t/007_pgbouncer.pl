# broker_seats behind a real pgbouncer in transaction pooling, where two
# clients take turns on ONE server connection (default_pool_size = 1):
# - SB001 keeps its SQLSTATE, and each org's own language
#   (seats.set_customer_language) holds whichever client is served first:
#   it needs no session state;
# - a session SET broker_seats.language by one client (or a plain SET in a
#   transaction that commits) leaks to the next clients of the server
#   connection, even after that client has gone, until someone RESETs it
#   (the pooler's behaviour: don't do this); SET LOCAL does not leak;
# - the hard limit holds with three clients at once on three server
#   connections;
# - CALL seats.close_due_cycles(...) in autocommit works in transaction mode;
# - what the pooler refuses that apps send (docs/clients.md): startup
#   options, and psycopg 3's automatic named prepared statements, which two
#   clients sharing one server connection collide on unless
#   prepare_threshold=None.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my ($pgbouncer) = grep { defined && -x } $ENV{PGBOUNCER}, '/usr/sbin/pgbouncer',
	map { "$_/pgbouncer" } split /:/, $ENV{PATH} // '';
plan skip_all => 'pgbouncer is not installed (apt-get install pgbouncer; or set PGBOUNCER)'
	unless $pgbouncer;

my @started;    # IPC::Run harnesses, killed at the end whatever happens
END
{
	local $?;    # reaping them must not change the test's exit status
	eval { $_->kill_kill } for @started;
}

my $node = PostgreSQL::Test::Cluster->new('pooled');
$node->init;
$node->start;
my $user = $node->safe_psql('postgres', 'SELECT current_user');

$node->safe_psql('postgres', q{
  CREATE EXTENSION broker_seats;
  SELECT seats.create_plan('imob-pro', 89.90, 'BRL', 'monthly');
  SELECT seats.onboard('sol', 'imob-pro', 1);
  SELECT seats.onboard('lua', 'imob-pro', 1);
  SELECT seats.onboard('mar', 'imob-pro', 1);
  SELECT seats.onboard('cinco', 'imob-pro', 5);
  CREATE TABLE crm_members (id bigserial PRIMARY KEY, org_id text NOT NULL, role text NOT NULL,
                            active boolean NOT NULL DEFAULT true);
  SELECT seats.attach('crm_members');
  INSERT INTO crm_members (org_id, role) VALUES ('sol', 'broker'), ('lua', 'broker'), ('mar', 'broker');
  SELECT seats.set_customer_language('lua', 'en');
  SELECT seats.set_customer_language('mar', 'pt_BR');
});
# sol follows broker_seats.language; lua is English and mar Portuguese on their own.

# pgbouncer: TCP on 127.0.0.1 only, to the node's Unix socket. "postgres"
# has the one server connection the clients share; "wide" has three, for the
# concurrency check.
my $dir = PostgreSQL::Test::Utils::tempdir;
my $bport = PostgreSQL::Test::Cluster::get_free_port();
my ($sockdir, $pgport) = ($node->host, $node->port);
PostgreSQL::Test::Utils::append_to_file("$dir/userlist.txt", qq{"$user" ""\n});
PostgreSQL::Test::Utils::append_to_file("$dir/pgbouncer.ini", qq{
[databases]
postgres = host=$sockdir port=$pgport dbname=postgres
wide = host=$sockdir port=$pgport dbname=postgres pool_size=3

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = $user
pool_mode = transaction
max_client_conn = 20
default_pool_size = 1
reserve_pool_size = 0
});
my $bouncer_log = "$PostgreSQL::Test::Utils::log_path/007_pgbouncer_bouncer.log";
push @started, IPC::Run::start([ $pgbouncer, "$dir/pgbouncer.ini" ], '<', '/dev/null', '>&', $bouncer_log);

my $psql = $node->installed_command('psql');
my @through_bouncer = ($psql, '-XAt', '-v', 'VERBOSITY=verbose', '-h', '127.0.0.1', '-p', $bport, '-U', $user);

# One client: a psql connected to pgbouncer, given a script on stdin.
sub bouncer_psql
{
	my ($sql, $db) = @_;
	my ($out, $err) = ('', '');
	# A psql that cannot connect exits before it reads its stdin, and
	# IPC::Run then dies of EPIPE writing the script: that is a failed
	# client (rc 2, as psql's own), not the end of the test.
	my $ran = eval {
		IPC::Run::run([ @through_bouncer, '-d', $db // 'postgres', '-f', '-' ],
			'<', \$sql, '>', \$out, '2>', \$err, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
		1;
	};
	return (2, '', $err . $@) unless $ran;
	chomp $out;
	return ($? >> 8, $out, $err);
}

my $up = 0;
for (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
{
	my ($rc, $out) = bouncer_psql('SELECT 1;');
	last if $up = ($rc == 0 && $out eq '1');
	select(undef, undef, undef, 0.1);
}
ok($up, "pgbouncer $pgbouncer accepts clients on 127.0.0.1:$bport") or die('pgbouncer did not start: see ' . $bouncer_log);

# A client that stays connected (a psql reading its stdin), as an
# application's connection does: its statements go one at a time.
package PooledClient
{
	sub new
	{
		my ($class, @cmd) = @_;
		my $self = bless { in => '', out => '', err => '', n => 0 }, $class;
		$self->{timer} = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
		$self->{h} = IPC::Run::start(\@cmd, '<', \$self->{in}, '>', \$self->{out}, '2>', \$self->{err}, $self->{timer});
		push @started, $self->{h};
		$self->query('SELECT 1;');
		return $self;
	}

	# Returns (stdout, stderr) of the statements.
	sub query
	{
		my ($self, $sql) = @_;
		my $mark = 'client-done-' . ++$self->{n};
		($self->{out}, $self->{err}) = ('', '');
		$self->{in} .= "$sql\n\\echo $mark\n\\warn $mark\n";
		$self->{timer}->start($PostgreSQL::Test::Utils::timeout_default);
		$self->{h}->pump until ($self->{out} =~ /^$mark$/m && $self->{err} =~ /^$mark$/m) || $self->{timer}->is_expired;
		die "client timed out on: $sql" if $self->{timer}->is_expired;
		my ($out, $err) = ($self->{out}, $self->{err});
		s/^$mark\n//m for $out, $err;
		chomp $out;
		return ($out, $err);
	}

	sub quit
	{
		my ($self) = @_;
		$self->{in} .= "\\q\n";
		$self->{h}->finish;
	}
}

sub client { return PooledClient->new(@through_bouncer, '-d', 'postgres', '-f', '-'); }
sub pid_of { my ($cc) = @_; return ($cc->query('SELECT pg_backend_pid();'))[0]; }
sub servers_of
{
	my ($db) = @_;
	my (undef, $out) = bouncer_psql('SHOW SERVERS;', 'pgbouncer');
	return scalar grep { (split /\|/)[2] eq $db } split /\n/, $out;
}

my $insert_sol = q{INSERT INTO crm_members (org_id, role) VALUES ('sol', 'broker');};
my $insert_lua = q{INSERT INTO crm_members (org_id, role) VALUES ('lua', 'broker');};
my $insert_mar = q{INSERT INTO crm_members (org_id, role) VALUES ('mar', 'broker');};
my $pt = qr/ERROR:  SB001: Seu plano atingiu o limite de corretores ativos\..*\nDETAIL:  Organização sol: 1\/1 /s;
my $en_sol = qr/ERROR:  SB001: Your plan has reached its limit of active brokers\..*\nDETAIL:  Organization sol: 1\/1 /s;
my $en_lua = qr/ERROR:  SB001: Your plan has reached its limit of active brokers\..*\nDETAIL:  Organization lua: 1\/1 /s;
my $pt_mar = qr/ERROR:  SB001: Seu plano atingiu .*\nDETAIL:  Organização mar: 1\/1 /s;

# 1. Two clients, one server connection: each org's SB001 in its language.
my $ca = client();
my $cb = client();
my $server = pid_of($ca);
is(pid_of($cb), $server, 'clients A and B are served by the same server connection');
like(($ca->query($insert_sol))[1], $pt, "A: sol's SB001 (SQLSTATE SB001) is in Portuguese");
like(($cb->query($insert_lua))[1], $en_lua, "B: then lua's, on the same connection, in English");
like(($cb->query($insert_sol))[1], $pt, 'B: the other order, sol first: Portuguese');
like(($ca->query($insert_lua))[1], $en_lua, 'A: then lua: English');
like(($ca->query($insert_mar))[1], $pt_mar, 'A: mar (its own pt_BR): Portuguese');
is(pid_of($ca) . ' ' . pid_of($cb), "$server $server", 'all of it on that one server connection');
is(servers_of('postgres'), 1, 'pgbouncer has a single server connection for the pool');

# 2. The leak: a session SET by A stays on the server connection, so B (which
# never set it) gets it. pgbouncer does not track custom settings and runs no
# server_reset_query between clients in transaction mode.
my ($out, $err) = $ca->query(q{SET broker_seats.language = 'en';});
is($err, '', "A: SET broker_seats.language = 'en' (session SET through the pooler)");
is(($cb->query('SHOW broker_seats.language;'))[0], 'en', 'B sees broker_seats.language = en without setting it');
like(($cb->query($insert_sol))[1], $en_sol, "B: sol's SB001 (no language of its own) now comes in English");
like(($cb->query($insert_lua))[1], $en_lua, 'B: lua (en of its own) is English as always');
like(($cb->query($insert_mar))[1], $pt_mar, 'B: mar (pt_BR of its own) stays Portuguese: the org language is immune');
my ($rc, $direct_out, $direct_err) = $node->psql('postgres', "$insert_sol SHOW broker_seats.language;", on_error_stop => 0);
is($direct_out, 'pt_BR', 'a connection straight to PostgreSQL has its own session: pt_BR');
like($direct_err, qr/Seu plano atingiu.*Organização sol: 1\/1/s, 'and Portuguese there: the leak is the pooler sharing a session');
$ca->quit;
my $cc = client();
is(pid_of($cc), $server, 'A disconnects; a new client C gets the same server connection');
like(($cc->query($insert_sol))[1], $en_sol, "C: sol's SB001 is still English: the SET outlives the client that made it");
$cc->query('RESET broker_seats.language;');
like(($cb->query($insert_sol))[1], $pt, 'C: RESET broker_seats.language; then B: sol is Portuguese again');
$cc->query(q{BEGIN; SET broker_seats.language = 'en'; ROLLBACK;});
is(($cb->query('SHOW broker_seats.language;'))[0], 'pt_BR', 'a SET in a transaction rolled back does not leak');
$cc->query(q{BEGIN; SET broker_seats.language = 'en'; COMMIT;});
is(($cb->query('SHOW broker_seats.language;'))[0], 'en', 'a SET (not LOCAL) in a committed transaction leaks like a session SET');
$cc->query('RESET broker_seats.language;');

# 3. SET LOCAL: only that transaction.
($out, $err) = $cc->query(qq{BEGIN; SET LOCAL broker_seats.language = 'en'; $insert_sol ROLLBACK;});
like($err, $en_sol, 'C: BEGIN; SET LOCAL broker_seats.language = en; INSERT: English in that transaction');
unlike($err, qr/ERROR:  (?!SB001)/, 'with no other error');
like(($cb->query($insert_sol))[1], $pt, "B, after C's ROLLBACK: sol's SB001 is Portuguese");
is(($cb->query('SHOW broker_seats.language;'))[0], 'pt_BR', 'and the server connection is back to pt_BR');
($out, $err) = $cc->query(q{BEGIN; SET LOCAL broker_seats.language = 'en'; COMMIT;});
like(($cb->query($insert_sol))[1], $pt, 'SET LOCAL in a committed transaction does not leak either');
is(pid_of($cb) . ' ' . pid_of($cc), "$server $server", 'still the same server connection');
$cb->quit;
$cc->quit;

# 4. The hard limit through the pooler: three clients at once, each on its
# own server connection of "wide" (the pg_sleep keeps all three busy), each
# inserting five brokers one statement (one transaction) at a time. Scripts
# and outputs are files, so the three run on their own.
PostgreSQL::Test::Utils::append_to_file("$dir/five.sql", "SELECT pg_backend_pid() FROM pg_sleep(1.5);\n"
	  . qq{INSERT INTO crm_members (org_id, role) VALUES ('cinco', 'broker');\n} x 5);
my @clients = map {
	my $h = IPC::Run::start([ @through_bouncer, '-d', 'wide', '-f', "$dir/five.sql" ], '<', '/dev/null',
		'>', "$dir/five.$_.out", '2>', "$dir/five.$_.err", IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	push @started, $h;
	+{ h => $h, n => $_ };
} 1 .. 3;
for (@clients)
{
	$_->{h}->finish;
	$_->{out} = PostgreSQL::Test::Utils::slurp_file("$dir/five.$_->{n}.out");
	$_->{err} = PostgreSQL::Test::Utils::slurp_file("$dir/five.$_->{n}.err");
}
my %first_server = map { (($_->{out} =~ /^(\d+)$/m)[0] // 'none') => 1 } @clients;
is(scalar(grep { $_ ne 'none' } keys %first_server), 3, 'the three clients ran at once, on three server connections');
my $inserted = () = join('', map { $_->{out} } @clients) =~ /^INSERT 0 1$/mg;
my $refused = () = join('', map { $_->{err} } @clients) =~ /ERROR:  SB001:/g;
is("$inserted $refused", '5 10', '15 attempts: 5 inserted, 10 refused with SB001');
is($node->safe_psql('postgres', q{SELECT count(*) FROM crm_members WHERE org_id = 'cinco' AND active}),
	'5', 'cinco has exactly 5 active brokers, its limit');
is($node->safe_psql('postgres', q{SELECT seats_used || '/' || seat_limit FROM seats.usage WHERE org = 'cinco'}),
	'5/5', 'and its counter says 5/5');
is($node->safe_psql('postgres', q{SELECT string_agg(org || ':' || fixed, ' ' ORDER BY org) FROM seats.revalidate()}),
	'cinco:false lua:false mar:false sol:false', 'seats.revalidate() finds no drift');

# 5. The turnover, in autocommit, through transaction pooling.
$node->safe_psql('postgres', q{SELECT seats.schedule_downgrade('cinco', 4)});
($rc, $out, $err) = bouncer_psql(q{BEGIN; CALL seats.close_due_cycles(now() + interval '40 days'); ROLLBACK;});
like($err, qr/ERROR:  25001:/, 'inside BEGIN through pgbouncer it is refused with 25001');
($rc, $out, $err) = bouncer_psql(q{CALL seats.close_due_cycles(now() + interval '40 days');});
is("$rc $err", '0 ', "CALL seats.close_due_cycles(now() + interval '40 days') succeeds through pgbouncer");
is($node->safe_psql('postgres', q{
  SELECT count(*) || ' ' || bool_and(cycle_end > now() + interval '40 days')
    FROM seats.subscription s WHERE EXISTS (SELECT 1 FROM seats.turnover t WHERE t.org = s.org)}),
	'4 true', 'every subscription was turned over up to that date');
is($node->safe_psql('postgres', q{SELECT status FROM seats.change WHERE org = 'cinco' AND kind = 'downgrade'}),
	'blocked', "cinco's downgrade to 4 is blocked (5 active brokers)");

# 6. What pgbouncer 1.18 refuses that drivers send. Settings as startup
# options (PGOPTIONS, libpq's options=):
{
	local $ENV{PGOPTIONS} = '-c broker_seats.language=en';
	($rc, $out, $err) = bouncer_psql('SELECT 1;');
	isnt($rc, 0, 'a setting passed as a startup option (PGOPTIONS) does not get through pgbouncer');
	like($err, qr/unsupported startup parameter: options/, 'pgbouncer says: unsupported startup parameter: options');
}
# psycopg 3's prepared statements: two clients on the one server
# connection, each running a query more than prepare_threshold times.
my ($python) = grep { defined && -x } $ENV{PYTHON}, '/usr/bin/python3';
my $psycopg_script = qq{
import psycopg
dsn = dict(host='127.0.0.1', port=$bport, user='$user', dbname='postgres')
def run(threshold):
    a = psycopg.connect(**dsn, autocommit=True, prepare_threshold=threshold)
    b = psycopg.connect(**dsn, autocommit=True, prepare_threshold=threshold)
    try:
        for i in range(8):
            for c in (a, b):
                c.execute("SELECT seats_used FROM seats.usage WHERE org = %s", ['cinco']).fetchone()
        return 'ok'
    except psycopg.Error as e:
        return '%s: %s' % (e.sqlstate, str(e).splitlines()[0])
    finally:
        a.close()
        b.close()
print(run(5))
print(run(None))
};
my ($py_out, $py_err) = ('', '');
my $has_psycopg = $python && IPC::Run::run([ $python, '-c', 'import psycopg' ], '>', \my $ignored, '2>', \my $ignored_err);
SKIP:
{
	skip 'psycopg 3 is not installed (apt-get install python3-psycopg)', 2 unless $has_psycopg;
	IPC::Run::run([ $python, '-' ], '<', \$psycopg_script, '>', \$py_out, '2>', \$py_err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	my ($default, $unprepared) = split /\n/, $py_out;
	like($default // $py_err, qr/^42P05: prepared statement "_pg3_0" already exists/,
		'psycopg 3 by default: the second client prepares _pg3_0 on the shared server connection (42P05)');
	is($unprepared // $py_err, 'ok', 'with prepare_threshold=None both clients run the query through the pooler');
}

$node->stop;
done_testing();
