# Packaging: META.json follows the PGXN Meta Spec 1.0.0
# (https://pgxn.org/spec/; no validator is packaged for Debian, so its rules
# are checked here) and agrees with the extension's control file and
# Makefile; and, given a built source checkout in BROKER_SEATS_SRC,
# `make install` with DESTDIR and a PG_CONFIG of its own puts the library,
# control and scripts where that pg_config says, and nowhere else.
# run-tap.sh copies META.json, broker_seats.control, Makefile, README.md and
# src/sql next to the tests (TESTDIR); `make installcheck` runs in the
# source tree, where they are too.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use IPC::Run;
use Digest::SHA;
use File::Find;

my $root = $ENV{TESTDIR} // '.';
for my $file (qw(META.json broker_seats.control Makefile README.md src/sql))
{
	ok(-e "$root/$file", "$file is in $root") or die("scripts/run-tap.sh must copy $file");
}

# Meta Spec 1.0.0 terms.
my $semver = qr/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)
                (?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?
                (?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/x;
my $term = qr/^[^\/\\\s\p{Cntrl}]{2,}$/;
my $tag = qr/^[^\/\\\p{Cntrl}]{2,255}$/;
my $custom = qr/^[xX]_./;
my $uri = qr/^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/;
my %licenses = map { $_ => 1 } qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd freebsd gfdl_1_2 gfdl_1_3
  gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1 openssl perl_5 postgresql qpl_1_0 ssleay sun zlib
  open_source restricted unrestricted unknown);

sub is_string { my ($v) = @_; return defined $v && !ref $v && length $v; }

# A version range: "1.2.0", ">= 1.2.0, != 1.5.0, < 2.0.0", or 0.
sub version_range_ok
{
	my ($range) = @_;
	return 0 if !defined $range || ref $range;
	return 1 if $range eq '0';
	for my $part (split /,\s*/, $range, -1)
	{
		my ($version) = $part =~ /^(?:(?:[=!]=|[<>]=?)\s*)?(.*)$/;
		return 0 unless $version =~ $semver;
	}
	return 1;
}

# Whether a version satisfies a range (numeric major.minor.patch).
sub satisfies
{
	my ($version, $range) = @_;
	return 1 if $range eq '0';
	my $cmp = sub {
		my @a = split /\./, $_[0];
		my @b = split /\./, $_[1];
		return $a[0] <=> $b[0] || $a[1] <=> $b[1] || $a[2] <=> $b[2];
	};
	for my $part (split /,\s*/, $range)
	{
		my ($op, $want) = $part =~ /^((?:[=!]=|[<>]=?)?)\s*(\d+\.\d+\.\d+)/;
		my $c = $cmp->($version, $want);
		my $ok = { '' => $c >= 0, '>=' => $c >= 0, '>' => $c > 0, '<=' => $c <= 0, '<' => $c < 0, '==' => $c == 0,
			'!=' => $c != 0 }->{$op};
		return 0 unless $ok;
	}
	return 1;
}

# check(condition, what is wrong): the prototype gives the condition scalar
# context (a failed match is then false, not an empty list).
my @errors;
sub check ($$) { my ($ok, $what) = @_; push @errors, $what unless $ok; }
sub keys_ok
{
	my ($hash, $where, @allowed) = @_;
	my %allowed = map { $_ => 1 } @allowed;
	check($allowed{$_} || $_ =~ $custom, "$where: unknown key $_") for sort keys %$hash;
}

my $meta_text = PostgreSQL::Test::Utils::slurp_file("$root/META.json");
my $meta = eval { JSON::PP->new->utf8->decode($meta_text) };
is(ref $meta, 'HASH', 'META.json is a JSON object (UTF-8)') or die("META.json does not parse: $@");

# The spec's rules.
my @required = qw(name version abstract maintainer license provides meta-spec);
check(exists $meta->{$_}, "missing required key $_") for @required;
keys_ok($meta, 'META.json', @required,
	qw(description generated_by tags no_index prereqs release_status resources));
check(is_string($meta->{name}) && $meta->{name} =~ $term, 'name is not a term (2+ characters, no slash, backslash, space)');
check(is_string($meta->{version}) && $meta->{version} =~ $semver, 'version is not a semantic version');
check(is_string($meta->{abstract}), 'abstract is not a non-empty string');
for my $key (qw(description generated_by))
{
	check(is_string($meta->{$key}), "$key is not a non-empty string") if exists $meta->{$key};
}
my $maintainer = $meta->{maintainer};
check((is_string($maintainer) || (ref $maintainer eq 'ARRAY' && @$maintainer && !grep({ !is_string($_) } @$maintainer))),
	'maintainer is not a string or a non-empty list of strings');
my $license = $meta->{license};
check(
	(!ref $license && defined $license && $licenses{$license})
	  || (ref $license eq 'ARRAY' && @$license && !grep({ ref || !$licenses{$_} } @$license))
	  || (ref $license eq 'HASH' && %$license && !grep({ !is_string($_) || $_ !~ $uri } values %$license)),
	'license is not a known license of the spec, a list of them, or names mapped to URIs');
my $spec = $meta->{'meta-spec'};
check(ref $spec eq 'HASH' && is_string($spec->{version}) && $spec->{version} =~ /^1\.0\.\d+$/,
	'meta-spec.version is not 1.0.x');
if (ref $spec eq 'HASH')
{
	keys_ok($spec, 'meta-spec', qw(version url));
	check($spec->{url} =~ m{^https?://pgxn\.org/meta/spec\.txt$}, 'meta-spec.url is not the spec\'s') if exists $spec->{url};
}
my $provides = $meta->{provides};
check(ref $provides eq 'HASH' && %$provides, 'provides is not a non-empty object');
for my $ext (sort keys %{ ref $provides eq 'HASH' ? $provides : {} })
{
	my $p = $provides->{$ext};
	check($ext =~ $term, "provides: $ext is not a term");
	if (ref $p ne 'HASH') { check(0, "provides.$ext is not an object"); next; }
	keys_ok($p, "provides.$ext", qw(file version abstract docfile docpath));
	check(is_string($p->{version}) && $p->{version} =~ $semver, "provides.$ext.version is not a semantic version");
	check(!exists $p->{abstract} || is_string($p->{abstract}), "provides.$ext.abstract is empty");
	for my $key (qw(file docfile))
	{
		next if $key eq 'docfile' && !exists $p->{docfile};
		my $path = $p->{$key};
		check(is_string($path) && length($path) >= 2 && $path !~ m{^/|\\|(^|/)\.\.(/|$)},
			"provides.$ext.$key is not a relative unix path");
		check(is_string($path) && -f "$root/$path", "provides.$ext.$key " . ($path // '') . ' is not a file of the distribution');
	}
}
if (exists $meta->{prereqs})
{
	my $prereqs = $meta->{prereqs};
	check(ref $prereqs eq 'HASH' && %$prereqs, 'prereqs is not a non-empty object');
	keys_ok($prereqs, 'prereqs', qw(configure build test runtime develop)) if ref $prereqs eq 'HASH';
	for my $phase (grep { !/$custom/ } sort keys %{ ref $prereqs eq 'HASH' ? $prereqs : {} })
	{
		my $rels = $prereqs->{$phase};
		if (ref $rels ne 'HASH' || !%$rels) { check(0, "prereqs.$phase is not a non-empty object"); next; }
		keys_ok($rels, "prereqs.$phase", qw(requires recommends suggests conflicts));
		for my $rel (grep { !/$custom/ } sort keys %$rels)
		{
			my $deps = $rels->{$rel};
			if (ref $deps ne 'HASH' || !%$deps) { check(0, "prereqs.$phase.$rel is not a non-empty object"); next; }
			for my $dep (sort keys %$deps)
			{
				check($dep =~ $term, "prereqs.$phase.$rel: $dep is not a term");
				check(version_range_ok($deps->{$dep}), "prereqs.$phase.$rel.$dep is not a version range");
			}
		}
	}
}
check($meta->{release_status} =~ /^(stable|testing|unstable)$/, 'release_status is not stable, testing or unstable')
  if exists $meta->{release_status};
if (exists $meta->{tags})
{
	my $tags = $meta->{tags};
	check(ref $tags eq 'ARRAY' && @$tags && !grep({ !is_string($_) || $_ !~ $tag } @$tags),
		'tags is not a non-empty list of tags (2 to 255 characters, no slash, backslash or control character)');
}
if (exists $meta->{resources})
{
	my $res = $meta->{resources};
	check(ref $res eq 'HASH' && %$res, 'resources is not a non-empty object');
	if (ref $res eq 'HASH')
	{
		keys_ok($res, 'resources', qw(homepage bugtracker repository));
		check($res->{homepage} =~ $uri, 'resources.homepage is not a URI') if exists $res->{homepage};
		for my $key (qw(bugtracker repository))
		{
			next unless exists $res->{$key};
			my $r = $res->{$key};
			check(ref $r eq 'HASH' && %$r, "resources.$key is not a non-empty object");
			keys_ok($r, "resources.$key", $key eq 'bugtracker' ? qw(web mailto) : qw(url web type)) if ref $r eq 'HASH';
		}
	}
}
if (exists $meta->{no_index})
{
	my $ni = $meta->{no_index};
	check(ref $ni eq 'HASH' && (exists $ni->{file} || exists $ni->{directory}), 'no_index names no file or directory');
	keys_ok($ni, 'no_index', qw(file directory)) if ref $ni eq 'HASH';
}
is_deeply(\@errors, [], 'META.json follows the PGXN Meta Spec 1.0.0') or diag explain \@errors;

# And agrees with the extension itself.
my $control = PostgreSQL::Test::Utils::slurp_file("$root/broker_seats.control");
my ($default_version) = $control =~ /^\s*default_version\s*=\s*'([^']+)'/m;
my ($comment) = $control =~ /^\s*comment\s*=\s*'([^']+)'/m;
my @parts = split /\./, $default_version // '';
my $as_semver = join '.', @parts, (0) x (3 - @parts);
is($default_version, '1.1', 'broker_seats.control: default_version 1.1');
is($meta->{name}, 'broker_seats', 'the distribution is broker_seats');
ok(exists $provides->{broker_seats}, 'it provides the extension broker_seats');
is($provides->{broker_seats}{version}, $as_semver, "the extension's version is the control file's $default_version as semver");
is($meta->{version}, $as_semver, 'and so is the distribution\'s');
is($provides->{broker_seats}{abstract}, $comment, "the extension's abstract is the control file's comment");
is($meta->{abstract}, $comment, 'and so is the distribution\'s');
my ($extversion) = PostgreSQL::Test::Utils::slurp_file("$root/Makefile") =~ /^EXTVERSION\s*=\s*(\S+)/m;
is($extversion, $default_version, 'the Makefile builds that version (EXTVERSION)');
my @released = map { m{broker_seats--(\d+(?:\.\d+)*)\.sql$} ? $1 : () } glob("$root/src/sql/broker_seats--*.sql");
ok(scalar(@released), 'src/sql has the released install scripts: ' . join(', ', @released));
ok(-f "$root/src/sql/broker_seats--$_--$default_version.sql", "an update script takes $_ to $default_version")
  for grep { $_ ne $default_version } @released;
my @install_sources = glob("$root/src/sql/install/*.sql");
ok(scalar(@install_sources), "src/sql/install holds the sources of the $default_version install script");

my $pg_config = $ENV{PG_CONFIG}
  // (grep { -x } (map { "$_/pg_config" } split /:/, $ENV{PATH} // ''), '/usr/lib/postgresql/15/bin/pg_config')[0];
SKIP:
{
	skip 'no pg_config', 1 unless $pg_config;
	my ($pg_version) = `$pg_config --version` =~ /PostgreSQL (\d+)\.(\d+)/ ? ("$1.$2.0") : ();
	my $wanted = $meta->{prereqs}{runtime}{requires}{PostgreSQL};
	ok(defined $wanted && defined $pg_version && satisfies($pg_version, $wanted),
		"the PostgreSQL here ($pg_version) satisfies prereqs.runtime.requires.PostgreSQL (" . ($wanted // 'none') . ')');
}

# make install with DESTDIR and a pg_config of its own, from a built checkout.
# Nothing is built here: the checkout must be up to date (make -q).
SKIP:
{
	my $src = $ENV{BROKER_SEATS_SRC};
	skip 'BROKER_SEATS_SRC does not name a source checkout with a built broker_seats.so', 1
	  unless $src && -f "$src/broker_seats.so" && -f "$src/Makefile";
	my ($make) = grep { -x } map { "$_/make" } split /:/, $ENV{PATH} // '';
	skip 'make is not installed', 1 unless $make;
	skip 'no pg_config', 1 unless $pg_config;

	my $tmp = PostgreSQL::Test::Utils::tempdir;
	my $dest = "$tmp/dest";
	my $wrapper = "$tmp/bin/pg_config";
	mkdir "$tmp/bin";
	PostgreSQL::Test::Utils::append_to_file($wrapper,
		qq{#!/bin/sh\necho "\$*" >> '$tmp/pg_config.calls'\nexec '$pg_config' "\$@"\n});
	chmod 0755, $wrapper;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $make, '-C', $src, '-q', 'all', "PG_CONFIG=$wrapper" ], '<', '/dev/null', '>', \$out, '2>', \$err);
	ok($? == 0, "$src is built and up to date (make -q all): nothing to build")
	  or skip "run make in $src first", 1;
	IPC::Run::run([ $make, '-C', $src, 'install', "DESTDIR=$dest", "PG_CONFIG=$wrapper" ],
		'<', '/dev/null', '>', \$out, '2>', \$err);
	is($? >> 8, 0, "make -C $src install DESTDIR=... PG_CONFIG=<wrapper> succeeds") or diag "$out\n$err";
	ok(-s "$tmp/pg_config.calls", 'PGXS asked the given pg_config');
	chomp(my $pkglibdir = `$wrapper --pkglibdir`);
	chomp(my $sharedir = `$wrapper --sharedir`);

	my $digest = sub { my ($f) = @_; return -f $f ? Digest::SHA->new(256)->addfile($f)->hexdigest : 'missing'; };
	is($digest->("$dest$pkglibdir/broker_seats.so"), $digest->("$src/broker_seats.so"),
		"broker_seats.so is installed in DESTDIR$pkglibdir");
	is($digest->("$dest$sharedir/extension/broker_seats.control"), $digest->("$src/broker_seats.control"),
		"broker_seats.control in DESTDIR$sharedir/extension");
	ok(-f "$dest$sharedir/extension/broker_seats--$default_version.sql", "with the $default_version install script");
	for my $script (map { s{.*/}{}r } glob("$src/src/sql/broker_seats--*.sql"))
	{
		is($digest->("$dest$sharedir/extension/$script"), $digest->("$src/src/sql/$script"), "and $script");
	}
	my @stray;
	find({ no_chdir => 1, wanted => sub {
		push @stray, $_ if -f $_ && !m{^\Q$dest$pkglibdir\E/} && !m{^\Q$dest$sharedir\E/extension/};
	} }, $dest);
	is_deeply(\@stray, [], 'nothing is installed anywhere else');
}

done_testing();
