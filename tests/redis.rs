//! Redis and Redis Cluster stores, against real servers: each test starts its own `redis-server` (or three, made
//! a cluster with `redis-cli --cluster create`) on free loopback ports, and stops them when it ends. Without
//! `redis-server` the tests fail under CI (CI=true) and are skipped, with a note, elsewhere.

mod common;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use common::{Env, ndjson, record};

/// A `redis-server` of this test, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts a server on `port` keeping its files in `dir`, and waits until it answers.
    fn start(dir: &Path, port: u16, extra: &[&str]) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("cannot start redis-server");
        let server = Server { child, port };
        wait_for(&format!("redis-server on port {port}"), || TcpStream::connect(("127.0.0.1", port)).is_ok());
        server
    }

    /// A server that keeps its data across a restart (an append-only file), for the tests that stop or kill it.
    fn persistent(dir: &Path, port: u16) -> Server {
        Server::start(dir, port, &["--appendonly", "yes"])
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three masters made one cluster, every slot covered.
struct Cluster {
    servers: Vec<Server>,
}

impl Cluster {
    fn start(env: &Env) -> Cluster {
        Cluster::start_with(env, |_| Vec::new(), &[])
    }

    /// A cluster whose server on each port also gets `extra(port)`; `login` is what redis-cli needs to reach them.
    fn start_with(env: &Env, extra: impl Fn(u16) -> Vec<String>, login: &[&str]) -> Cluster {
        let servers: Vec<Server> = (0..3)
            .map(|n| {
                let dir = env.path(&format!("cluster-{n}"));
                let port = free_port(true);
                let mut args =
                    ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"].map(String::from).to_vec();
                args.extend(extra(port));
                Server::start(&dir, port, &args.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.args(login).arg("--cluster").arg("create");
        create.args(servers.iter().map(|s| format!("127.0.0.1:{}", s.port)));
        let out = create.args(["--cluster-replicas", "0", "--cluster-yes"]).output().unwrap();
        assert!(out.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&out.stdout));
        for server in &servers {
            let info = || cli(server.port, &[login, &["cluster", "info"]].concat());
            wait_for("cluster_state:ok", || info().contains("cluster_state:ok"));
        }
        Cluster { servers }
    }

    fn ports(&self) -> Vec<u16> {
        self.servers.iter().map(|server| server.port).collect()
    }

    fn url(&self) -> String {
        let nodes: Vec<String> = self.servers.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// Leaves the slot of `key` (a name with a `{…}` hash tag) half moved from its master to another, as a reshard
    /// stopped part way does (SETSLOT IMPORTING and MIGRATING). Gives the masters it moves from and to.
    fn half_move(&self, key: &str) -> (&Server, &Server) {
        let slot = cli(self.servers[0].port, &["cluster", "keyslot", key]).trim().to_string();
        // A key put in the slot names its master.
        let tag = &key[key.find('{').unwrap()..=key.find('}').unwrap()];
        let probe = format!("{tag}probe");
        cli(self.servers[0].port, &["set", &probe, "x"]);
        let holds = |server: &&Server| cli(server.port, &["cluster", "countkeysinslot", &slot]).trim() != "0";
        let from = self.servers.iter().find(holds).expect("a master holds the slot");
        cli(from.port, &["del", &probe]);
        let to = self.servers.iter().find(|server| server.port != from.port).unwrap();
        let id = |server: &Server| cli(server.port, &["cluster", "myid"]).trim().to_string();
        assert_eq!(cli(to.port, &["cluster", "setslot", &slot, "importing", &id(from)]).trim(), "OK");
        assert_eq!(cli(from.port, &["cluster", "setslot", &slot, "migrating", &id(to)]).trim(), "OK");
        (from, to)
    }
}

/// A Redis test's environment, when redis-server is here to test with (None: the test is skipped); under CI its
/// absence fails the test.
fn redis_env() -> Option<Env> {
    let found = Command::new("redis-server").arg("--version").output().is_ok_and(|out| out.status.success());
    if !found {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "redis-server is missing: .ci/run installs it");
        eprintln!("note: redis-server is not installed; skipping this Redis test (apt-get install redis-server)");
    }
    found.then(Env::new)
}

/// A loopback port nobody listens on; for a cluster node, its bus port (port + 10000) too.
fn free_port(with_bus: bool) -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !with_bus || port.checked_add(10000).is_some_and(|bus| TcpListener::bind(("127.0.0.1", bus)).is_ok()) {
            return port;
        }
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        sleep(Duration::from_millis(50));
    }
}

/// Runs redis-cli against the server on `port` (following cluster redirections) and returns its output.
fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli").args(["-c", "-p", &port.to_string()]).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A keywatcher run whose input stays open, so that a test can act on the store while it runs.
struct Running(Child);

impl Running {
    /// Starts keywatcher with `args`, and waits until it is connected to one of the servers on `ports`; `login` is
    /// what redis-cli needs to ask them.
    fn start(env: &Env, args: &[&str], ports: &[u16], login: &[&str]) -> Running {
        let child = Command::new(assert_cmd::cargo::cargo_bin("keywatcher"))
            .args(args)
            .env("XDG_STATE_HOME", env.path("state"))
            .env_remove("REDISCLI_AUTH")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let connected = |port: u16| {
            let info = cli(port, &[login, &["info", "clients"]].concat());
            let clients = info.lines().find_map(|line| line.strip_prefix("connected_clients:"));
            clients.and_then(|n| n.trim().parse::<u32>().ok()).is_some_and(|n| n >= 2)
        };
        wait_for("keywatcher to connect", || ports.iter().any(|&port| connected(port)));
        Running(child)
    }

    /// Gives the run its `input` and returns its exit status and stderr. A run that has not ended two minutes
    /// later is killed and fails the test, so that a hang cannot hang the suite.
    fn finish(mut self, input: &str) -> (Option<i32>, String) {
        let mut stdin = self.0.stdin.take().unwrap();
        let input = input.to_string();
        thread::spawn(move || stdin.write_all(input.as_bytes()));
        let pid = self.0.id();
        let (done, ended) = mpsc::channel();
        thread::spawn(move || done.send(self.0.wait_with_output().unwrap()));
        match ended.recv_timeout(Duration::from_secs(120)) {
            Ok(out) => (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned()),
            Err(_) => {
                signal(pid, "KILL");
                panic!("keywatcher still runs two minutes after its input ended");
            }
        }
    }
}

/// Sends `signal` (STOP, CONT, KILL) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Calls of several keys, values repeated and times out of order, with user agents that hold spaces and quotes.
fn records(keys: usize, per_key: usize, salt: usize) -> String {
    let mut out = Vec::new();
    for n in 0..per_key {
        for k in 0..keys {
            let time =
                format!("2026-11-{:02}T{:02}:{:02}:{:02}Z", 1 + (n * 7 + k) % 20, (n + salt) % 24, k % 60, n % 60);
            let ip = format!("198.51.100.{}", (n * 3 + k + salt) % 7);
            let agent = format!("aws-cli/2.{} \"quoted\" Python/3.{}", (n + salt) % 3, k % 2);
            let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
            let events = ["DescribeInstances", "RunInstances", "GetObject", "ListBuckets"];
            out.push(record(
                &format!("AKIAKEY{k:05}"),
                &time,
                &ip,
                &agent,
                regions[(n + k) % 3],
                events[(n + salt) % 4],
            ));
        }
    }
    ndjson(&out)
}

/// What `score` (with `flags`) writes for `input` against the first store, after checking that it writes the same
/// against every other store.
fn scored_alike(env: &Env, stores: &[String], flags: &[&str], input: &str) -> String {
    let score = |store: &String| {
        let out = env.run(&[&["score"], flags, &["--store", store, "-"]].concat(), input);
        assert_eq!(out.code, 0, "score with {store}: {}", out.stderr);
        out.stdout
    };
    let scored = score(&stores[0]);
    for store in &stores[1..] {
        let other = score(store);
        let mut lines = scored.lines().zip(other.lines()).enumerate();
        if let Some((n, (line, differs))) = lines.find(|(_, (line, differs))| line != differs) {
            panic!("line {} against {store}:\n{differs}\nagainst {}:\n{line}", n + 1, stores[0]);
        }
        assert_eq!(other.lines().count(), scored.lines().count(), "lines against {store}");
    }
    scored
}

/// The export of the first store, after checking that every other store exports the same.
fn exported_alike(env: &Env, stores: &[String]) -> String {
    let exported = export(env, &stores[0]);
    for store in &stores[1..] {
        assert_eq!(export(env, store), exported, "{store}");
    }
    exported
}

fn export(env: &Env, store: &str) -> String {
    let out = env.run(&["profile", "export", "--store", store], "");
    assert_eq!(out.code, 0, "export from {store}: {}", out.stderr);
    out.stdout
}

fn learn(env: &Env, store: &str, input: &str) {
    let out = env.run(&["learn", "--store", store, "-"], input);
    assert_eq!(out.code, 0, "learn into {store}: {}", out.stderr);
}

#[test]
fn snapshot_redis_and_cluster_give_the_same_profiles_and_scores() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let cluster = Cluster::start(&env);
    let stores = ["snapshot".to_string(), server.url(), cluster.url()];
    let (first, second, scored) = (records(40, 6, 0), records(50, 3, 1), records(60, 2, 2));
    for store in &stores {
        // Two runs, so that merging into stored profiles is compared too, not only writing new ones.
        learn(&env, store, &first);
        learn(&env, store, &second);
    }
    let exported = exported_alike(&env, &stores);
    assert_eq!(exported.lines().count(), 50);
    assert_eq!(scored_alike(&env, &stores, &[], &scored).lines().count(), 120);
    for store in &stores {
        let out = env.run(&["profile", "delete", "--store", store, "AKIAKEY00001", "AKIAKEY00002"], "");
        assert!(out.stderr.contains("deleted 2 profile(s)"), "{store}: {}", out.stderr);
        let out = env.run(&["profile", "show", "--store", store, "AKIAKEY0000"], "");
        assert_eq!(out.stdout.lines().filter(|line| line.contains("AKIAKEY")).count(), 8, "{store}: {}", out.stdout);
    }
    exported_alike(&env, &stores);
}

/// `score` loads the profiles of the next chunk's new keys while it scores this chunk. Over 4,000 keys, a few hundred
/// new in each of six chunks, every key's three calls are 800 records apart, so that many run from one chunk into the
/// next: the first call teaches its key a new event in memory, the other two match it. A profile loaded after a call
/// needed it would score that call as unknown, and one loaded over what was learned would miss the event; with
/// `--learn`, saves and second looks go on while loads are on their way. The single server wants a password and holds
/// the profiles in database 3, so that the loads ahead, read off the socket without redis-rs, log in and choose it.
#[test]
fn profiles_loaded_ahead_arrive_in_time_and_replace_nothing_learned() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &["--requirepass", "ahead-Pw"]);
    let cluster = Cluster::start(&env);
    let stores = ["snapshot".to_string(), format!("redis://:ahead-Pw@127.0.0.1:{}/3", server.port), cluster.url()];
    let call = |k: usize, day: usize, event| {
        let (key, time) =
            (format!("AKIAAHEAD{k:05}"), format!("2026-11-{day:02}T{:02}:{:02}:00Z", k / 600, k / 10 % 60));
        record(&key, &time, "203.0.113.7", "aws-cli/2.13.5", "us-east-1", event)
    };
    // Every tenth key has no profile: unknown at each call, and looked up again after --save-every.
    let learned: Vec<_> = (0..4000).filter(|k| k % 10 != 0).map(|k| call(k, 1, "DescribeInstances")).collect();
    let scored: Vec<_> = (0..4000 / 800)
        .flat_map(|block| {
            (2..5).flat_map(move |day| (block * 800..(block + 1) * 800).map(move |k| call(k, day, "RunInstances")))
        })
        .collect();
    let scored = ndjson(&scored);
    assert!(scored.len() > 5 << 20, "{} bytes: fewer chunks than meant", scored.len());
    for store in &stores {
        learn(&env, store, &ndjson(&learned));
    }
    let flags = ["--learn", "--save-records", "500", "--save-every", "1s"];
    let connections = || {
        let stats = cli(server.port, &["-a", "ahead-Pw", "--no-auth-warning", "info", "stats"]);
        let count = stats.lines().find_map(|line| line.strip_prefix("total_connections_received:"));
        count.unwrap().trim().parse::<usize>().unwrap()
    };
    let before = connections();
    let out = scored_alike(&env, &stores, &flags, &scored);
    // The store's own connection and the one that loads ahead: a third would be that loader gone back to redis-rs.
    assert_eq!(connections() - before - 1, 2, "connections to the single server while it scored");
    let count = |needle: &str| out.lines().filter(|line| line.contains(needle)).count();
    assert_eq!(count("\"profile\":\"unknown\""), 1200, "{out}");
    assert_eq!(count("\"score\":90,"), 3600, "first calls: all but the event");
    assert_eq!(count("\"score\":100,"), 7200, "the calls after the first, matching what it taught");
    exported_alike(&env, &stores);
}

#[test]
fn racing_learners_lose_nothing() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let url = server.url();
    // The same keys in both, many batches each, so that the two runs' scripts interleave key by key.
    let (a, b) = (records(1500, 2, 0), records(1500, 2, 5));
    std::thread::scope(|scope| {
        for input in [&a, &b] {
            scope.spawn(|| learn(&env, &url, input));
        }
    });
    learn(&env, "snapshot", &(a + &b));
    assert_eq!(export(&env, &url), export(&env, "snapshot"));
}

#[test]
fn a_redis_stopped_mid_run_fails_clearly_and_a_rerun_completes() {
    let Some(env) = redis_env() else { return };
    let (dir, port) = (env.path("redis"), free_port(false));
    let server = Server::persistent(&dir, port);
    let url = server.url();
    let (before, during) = (records(20, 3, 0), records(30, 3, 1));
    learn(&env, &url, &before);
    learn(&env, "snapshot", &before);

    // A learn that has checked the store and is reading its input when Redis goes away.
    let run = Running::start(&env, &["learn", "--store", &url, "-"], &[port], &[]);
    cli(port, &["shutdown"]);
    drop(server);
    let (code, stderr) = run.finish(&during);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("Redis redis://127.0.0.1:{port}")), "the store is not named: {stderr}");
    assert!(stderr.contains("running"), "no hint: {stderr}");

    // Nothing of the first run was lost; the same learn run again completes.
    let server = Server::persistent(&dir, port);
    assert_eq!(export(&env, &url), export(&env, "snapshot"));
    learn(&env, &url, &during);
    learn(&env, "snapshot", &during);
    assert_eq!(export(&env, &server.url()), export(&env, "snapshot"));
}

#[test]
fn a_password_is_required_used_and_never_printed() {
    let Some(env) = redis_env() else { return };
    let password = "s3cret-Pw";
    let server = Server::start(&env.path("redis"), free_port(false), &["--requirepass", password]);
    let plain = server.url();
    let with = format!("redis://:{password}@127.0.0.1:{}", server.port);
    let wrong = format!("redis://:not-{password}@127.0.0.1:{}", server.port);
    let input = records(3, 2, 0);
    for (vars, store) in [(&[][..], &wrong), (&[][..], &plain), (&[("REDISCLI_AUTH", "nope-nope")][..], &plain)] {
        let out = env.run_with(vars, &["learn", "--store", store, "-"], &input);
        assert_eq!(out.code, 2, "{store}: {}", out.stderr);
        assert!(out.stderr.contains("refused the login"), "{store}: {}", out.stderr);
        assert!(out.stderr.contains(&format!("127.0.0.1:{}", server.port)), "{}", out.stderr);
        assert!(!out.stderr.contains("nope-nope") && !out.stderr.contains(password), "{}", out.stderr);
    }
    // An ACL user logs in with its name and password.
    cli(server.port, &["-a", password, "--no-auth-warning", "acl", "setuser", "kw", "on", ">kw-Pw2", "~*", "+@all"]);
    let as_user = format!("redis://kw:kw-Pw2@127.0.0.1:{}", server.port);
    for (vars, store) in [
        (&[][..], &as_user),
        (&[][..], &with),
        (&[("KEYWATCHER_REDIS_PASSWORD", password)][..], &plain),
        (&[("REDISCLI_AUTH", password)][..], &plain),
    ] {
        for args in [&["learn", "--store", store, "-"][..], &["profile", "show", "--store", store][..]] {
            let out = env.run_with(vars, args, &input);
            assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
            let printed = format!("{}{}", out.stdout, out.stderr);
            assert!(!printed.contains(password) && !printed.contains("kw-Pw2"), "{args:?}: {printed}");
        }
    }
}

#[test]
fn the_old_layout_is_imported_and_left_in_place() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let cluster = Cluster::start(&env);
    let old = [
        ("[Key]AKIAOLD1:[Ip]111.111.111.111", "3"),
        ("[Key]AKIAOLD1:[Agent]aws-cli/1.10.1-Python/2.7.5", "1"),
        ("[Key]AKIAOLD1:[Region]ap-southeast-2", "2"),
        ("[Key]AKIAOLD1:[Eventname]DescribeDBSnapshots", "1"),
        ("[Key]AKIAOLD1:[Account]1234567890:[Username]jackie.chen", "1"),
        ("[Key]AKIAOLD2:[Ip]203.0.113.9", "5"),
    ];
    // A key that is not UTF-8 is read with U+FFFD for its bad byte, and does not stop the others.
    let not_utf8 = OsStr::from_bytes(b"[Key]AKIAOLD3:[Agent]caf\xff");
    // What the same keys give when imported from the old export file, into a snapshot.
    let mut export_file: String = old.iter().map(|(key, count)| format!("redis-cli set \"{key}\" {count}\n")).collect();
    export_file.push_str("redis-cli set \"[Key]AKIAOLD3:[Agent]caf\u{fffd}\" 4\n");
    let out = env.run(&["profile", "import", "--store", "snapshot", "-"], &export_file);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = export(&env, "snapshot");
    assert!(expected.contains("jackie.chen") && expected.contains("\"count\":5"), "{expected}");
    for (port, store) in [(server.port, server.url()), (cluster.servers[0].port, cluster.url())] {
        for (key, count) in old {
            cli(port, &["set", key, count]);
        }
        cli(port, &["set", "unrelated", "x"]);
        let set =
            Command::new("redis-cli").args(["-c", "-p", &port.to_string(), "set"]).arg(not_utf8).arg("4").output();
        assert!(set.unwrap().status.success());
        let out = env.run(&["profile", "import", "--store", &store, "--from-old-redis"], "");
        assert_eq!(out.code, 0, "{store}: {}", out.stderr);
        assert!(out.stderr.contains("imported 3 profile(s)"), "{store}: {}", out.stderr);
        assert_eq!(export(&env, &store), expected, "{store}");
        assert_eq!(cli(port, &["get", old[0].0]).trim(), "3", "the old keys stay");
        // Run again, even after a learn into one of those keys, it adds nothing.
        learn(&env, &store, &ndjson(&[record("AKIAOLD1", "2026-11-02T10:00:00Z", "198.51.100.7", "a", "b", "c")]));
        let learned = export(&env, &store);
        let out = env.run(&["profile", "import", "--store", &store, "--from-old-redis"], "");
        assert_eq!(out.code, 0, "{store}: {}", out.stderr);
        assert_eq!(export(&env, &store), learned, "{store}: imported twice");
        // Old keys that changed since are new content: their counts are added (the README says to import once the
        // old script has stopped).
        cli(port, &["set", old[5].0, "6"]);
        let out = env.run(&["profile", "import", "--store", &store, "--from-old-redis"], "");
        assert_eq!(out.code, 0, "{store}: {}", out.stderr);
        assert!(export(&env, &store).contains("\"203.0.113.9\":{\"count\":11}"), "{store}: {}", export(&env, &store));
    }
    // The flag reads a Redis store only.
    let out = env.run(&["profile", "import", "--store", "snapshot", "--from-old-redis"], "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--store redis://"), "{}", out.stderr);
}

/// A test certificate authority, and a certificate for 127.0.0.1 that it signed (and its key), made with openssl.
struct Tls {
    cert: String,
    key: String,
    ca: String,
}

fn tls_files(env: &Env) -> Tls {
    let tls = env.path("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let ext = env.write("tls/ext", "subjectAltName=IP:127.0.0.1\n");
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(&tls).output().expect("openssl is needed (.ci/run)");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(&[&["req", "-x509", "-days", "1", "-subj", "/CN=keywatcher test CA", "-keyout", "ca.key", "-out", "ca.crt"][..], &key].concat());
    openssl(&[&["req", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"][..], &key].concat());
    openssl(&[
        "x509",
        "-req",
        "-days",
        "1",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-extfile",
        ext.to_str().unwrap(),
    ]);
    let file = |name: &str| tls.join(name).to_str().unwrap().to_string();
    Tls { cert: file("server.crt"), key: file("server.key"), ca: file("ca.crt") }
}

#[test]
fn rediss_speaks_tls_to_a_server_it_trusts() {
    let Some(env) = redis_env() else { return };
    let Tls { cert, key, ca } = tls_files(&env);
    let port = free_port(false);
    let port_text = port.to_string();
    let tls_args = ["--port", "0", "--tls-port", &port_text, "--tls-cert-file", &cert, "--tls-key-file", &key];
    let _server = Server::start(&env.path("redis"), port, &[&tls_args[..], &["--tls-auth-clients", "no"]].concat());
    let store = format!("rediss://127.0.0.1:{port}");
    let input = records(5, 3, 0);
    let out = env.run(&["learn", "--store", &store, "-"], &input);
    assert_eq!(out.code, 2, "a server signed by an unknown CA is trusted: {}", out.stderr);
    assert!(out.stderr.contains(&store) && out.stderr.contains("SSL_CERT_FILE"), "{}", out.stderr);
    let trusted = [("SSL_CERT_FILE", ca.as_str())];
    let out = env.run_with(&trusted, &["learn", "--store", &store, "-"], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    learn(&env, "snapshot", &input);
    let out = env.run_with(&trusted, &["profile", "export", "--store", &store], "");
    assert_eq!(out.stdout, export(&env, "snapshot"));
}

#[test]
fn rediss_cluster_speaks_tls_to_every_master() {
    let Some(env) = redis_env() else { return };
    let tls = tls_files(&env);
    let server_args = |port: u16| {
        let files = ["--tls-cert-file", &tls.cert, "--tls-key-file", &tls.key, "--tls-ca-cert-file", &tls.ca];
        let rest = ["--tls-cluster", "yes", "--tls-auth-clients", "no", "--port", "0", "--tls-port"];
        [&files[..], &rest].concat().into_iter().map(String::from).chain([port.to_string()]).collect()
    };
    let cluster = Cluster::start_with(&env, server_args, &["--tls", "--cacert", &tls.ca]);
    let store = cluster.url().replacen("redis+cluster://", "rediss+cluster://", 1);
    let input = records(30, 3, 0);
    let out = env.run(&["learn", "--store", &store, "-"], &input);
    assert_eq!(out.code, 2, "a cluster signed by an unknown CA is trusted: {}", out.stderr);
    assert!(out.stderr.contains(&store) && out.stderr.contains("SSL_CERT_FILE"), "{}", out.stderr);
    let trusted = [("SSL_CERT_FILE", tls.ca.as_str())];
    let out = env.run_with(&trusted, &["learn", "--store", &store, "-"], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    learn(&env, "snapshot", &input);
    let out = env.run_with(&trusted, &["profile", "export", "--store", &store], "");
    assert_eq!(out.stdout, export(&env, "snapshot"));
}

/// A TCP relay to the server on `port` that loses the replies to the first pipeline sent through it that holds the
/// command `command`: it passes the pipeline on, lets the server run it, then drops the connection unanswered.
/// Returns its port and whether the loss happened.
fn lossy_relay(port: u16, command: &'static [u8]) -> (u16, Arc<AtomicBool>) {
    let tripped = Arc::new(AtomicBool::new(false));
    let tripped_out = tripped.clone();
    let relay = relay(port, move |mut client, mut server| {
        let losing = Arc::new(AtomicBool::new(false));
        let (mut replies, mut to_client, dropping) =
            (server.try_clone().unwrap(), client.try_clone().unwrap(), losing.clone());
        thread::spawn(move || {
            let mut buf = vec![0; 1 << 16];
            while let Ok(n @ 1..) = replies.read(&mut buf) {
                if !dropping.load(Ordering::SeqCst) && to_client.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let tripped = tripped.clone();
        thread::spawn(move || {
            let mut buf = vec![0; 1 << 16];
            while let Ok(n @ 1..) = client.read(&mut buf) {
                if !tripped.load(Ordering::SeqCst) && buf[..n].windows(command.len()).any(|w| w == command) {
                    tripped.store(true, Ordering::SeqCst);
                    losing.store(true, Ordering::SeqCst);
                    // The rest of the pipeline still reaches the server; then the connection breaks.
                    client.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
                }
                if server.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            sleep(Duration::from_millis(300));
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        });
    });
    (relay, tripped_out)
}

/// A TCP relay on a free port to the server on `port`: each client gets a connection of its own to the server,
/// and `serve` passes the bytes between the two as its test wants. Returns the relay's port.
fn relay(port: u16, serve: impl Fn(TcpStream, TcpStream) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in listener.incoming() {
            serve(client.unwrap(), TcpStream::connect(("127.0.0.1", port)).unwrap());
        }
    });
    relay
}

#[test]
fn a_merge_sent_again_after_a_lost_reply_is_counted_once() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let (relay, tripped) = lossy_relay(server.port, b"EVALSHA");
    let input = records(600, 2, 0);
    learn(&env, &format!("redis://127.0.0.1:{relay}"), &input);
    assert!(tripped.load(Ordering::SeqCst), "no reply was lost");
    // The lost batch did run: more scripts ran than there are keys.
    let evals = calls(server.port, "evalsha");
    assert!(evals > 600, "the lost batch did not reach the server: {evals} scripts");
    learn(&env, "snapshot", &input);
    assert_eq!(export(&env, &server.url()), export(&env, "snapshot"));
}

/// How many times the server on `port` has run `command`, scripts' calls included.
fn calls(port: u16, command: &str) -> usize {
    let stats = cli(port, &["info", "commandstats"]);
    let calls = stats.lines().find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")));
    calls.map_or(0, |calls| calls.split(',').next().unwrap().parse().unwrap())
}

/// The calls of 8,000 keys, one each: four batches of merges into an empty store, the last two making their keys by
/// rename (the second is built before the first is answered).
fn four_batches(salt: usize) -> String {
    records(8000, 1, salt)
}

#[test]
fn keys_made_by_rename_that_another_learner_made_first_are_merged() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let cluster = Cluster::start(&env);
    // 100 keys of the last batch are in the store already when it is sent: their renames fail.
    let early: String =
        four_batches(3).lines().filter(|line| line.contains("AKIAKEY060")).map(|line| format!("{line}\n")).collect();
    let stores = ["snapshot".to_string(), server.url(), cluster.url()];
    for store in &stores {
        learn(&env, store, &early);
        learn(&env, store, &four_batches(0));
    }
    for ports in [vec![server.port], cluster.ports()] {
        let sum = |count: &dyn Fn(u16) -> usize| ports.iter().map(|&port| count(port)).sum::<usize>();
        assert_eq!(sum(&|port| calls(port, "renamenx")), 4000, "{ports:?}");
        // The script reads a held delta with HGETALL, once for each key that was there.
        assert_eq!(sum(&|port| calls(port, "hgetall")), 100, "{ports:?}");
        let keys = sum(&|port| cli(port, &["dbsize"]).trim().parse().unwrap());
        assert_eq!(keys, 8000, "{ports:?}: a delta's hash was left behind");
    }
    exported_alike(&env, &stores);
    // One that a learn killed between writing a delta and renaming it would leave goes with the profiles.
    cli(server.port, &["hset", "kw:{AKIAKEY00001}:0123456789abcdef-0", "_batches", "0123456789abcdef-0"]);
    let out = env.run(&["profile", "delete", "--store", &server.url(), "--all"], "");
    assert!(out.stderr.contains("deleted 8000 profile(s)"), "{}", out.stderr);
    assert_eq!(cli(server.port, &["dbsize"]).trim(), "0");
}

#[test]
fn keys_that_begin_with_a_closing_brace_are_made_in_a_cluster_as_in_a_snapshot() {
    let Some(env) = redis_env() else { return };
    let cluster = Cluster::start(&env);
    // `kw:{}X}` has no hash tag, so the cluster hashes the whole name and a hash held beside it, `kw:{}X}:TOKEN`, is
    // in another slot; braces further in leave both names the same tag. These keys sort after every `AKIAKEY…` one:
    // into the last batch, which makes its keys by rename.
    let forged: Vec<_> = ["}", "}AKIA{X}", "}}", "AKIA{X}Y", "AKIA}Z{"]
        .iter()
        .map(|key| record(key, "2026-11-01T00:00:00Z", "198.51.100.1", "aws-cli/2", "us-east-1", "GetObject"))
        .collect();
    let input = four_batches(0) + &ndjson(&forged);
    let stores = ["snapshot".to_string(), cluster.url()];
    for store in &stores {
        learn(&env, store, &input);
    }
    exported_alike(&env, &stores);
    let sum = |count: &dyn Fn(u16) -> usize| cluster.ports().iter().map(|&port| count(port)).sum::<usize>();
    // The last two batches of `AKIAKEY…` keys, and the two keys with braces further in, were made by rename.
    assert_eq!(sum(&|port| calls(port, "renamenx")), 4002);
    let keys = sum(&|port| cli(port, &["dbsize"]).trim().parse().unwrap());
    assert_eq!(keys, 8005, "a delta's hash was left behind");
}

/// A TCP relay to the server on `port` that holds back what its clients send from the first RENAMENX on until
/// `release` is set: the commands before it run, the rest wait, on every connection. Returns its port and whether it
/// holds yet.
fn holding_relay(port: u16, release: Arc<AtomicBool>) -> (u16, Arc<AtomicBool>) {
    const RENAMENX: &[u8] = b"*3\r\n$8\r\nRENAMENX\r\n";
    let held = Arc::new(AtomicBool::new(false));
    let held_out = held.clone();
    let relay = relay(port, move |mut client, mut server| {
        let (mut replies, mut to_client) = (server.try_clone().unwrap(), client.try_clone().unwrap());
        thread::spawn(move || std::io::copy(&mut replies, &mut to_client));
        let (held, release) = (held.clone(), release.clone());
        thread::spawn(move || {
            let mut buf = vec![0; 1 << 16];
            while let Ok(n @ 1..) = client.read(&mut buf) {
                let mut rest = &buf[..n];
                let at = rest.windows(RENAMENX.len()).position(|w| w == RENAMENX);
                if let Some(at) = at.filter(|_| !held.load(Ordering::SeqCst)) {
                    server.write_all(&rest[..at]).unwrap();
                    held.store(true, Ordering::SeqCst);
                    rest = &rest[at..];
                }
                if held.load(Ordering::SeqCst) {
                    wait_for("the test to release the relay", || release.load(Ordering::SeqCst));
                }
                if server.write_all(rest).is_err() {
                    break;
                }
            }
        });
    });
    (relay, held_out)
}

#[test]
fn learners_racing_to_make_the_same_new_keys_lose_nothing() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let url = server.url();
    let (a, b) = (four_batches(0), four_batches(5));
    // B has written the delta of the first key of its third batch, which makes its keys by rename, when A runs and
    // makes every key (B's fourth batch, sent on its other connection before the third is answered, waits too); then
    // B's renames go on, and all fail.
    let release = Arc::new(AtomicBool::new(false));
    let (relay, held) = holding_relay(server.port, release.clone());
    std::thread::scope(|scope| {
        let b = scope.spawn(|| learn(&env, &format!("redis://127.0.0.1:{relay}"), &b));
        wait_for("B to start making keys by rename", || held.load(Ordering::SeqCst));
        learn(&env, &url, &a);
        release.store(true, Ordering::SeqCst);
        b.join().unwrap();
    });
    // Each of B's last two batches' keys was found made, and merged from its held delta by the script.
    assert_eq!(calls(server.port, "hgetall"), 4000);
    assert_eq!(cli(server.port, &["dbsize"]).trim(), "8000", "a delta's hash was left behind");
    learn(&env, "snapshot", &(a + &b));
    assert_eq!(export(&env, &url), export(&env, "snapshot"));
}

#[test]
fn keys_made_by_rename_sent_again_after_a_lost_reply_are_counted_once() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let (relay, tripped) = lossy_relay(server.port, b"RENAMENX");
    learn(&env, &format!("redis://127.0.0.1:{relay}"), &four_batches(0));
    assert!(tripped.load(Ordering::SeqCst), "no reply was lost");
    // The lost batch did run, then was sent again: its renames failed and its keys' held deltas were found merged.
    assert!(calls(server.port, "renamenx") > 4000, "the lost batch did not reach the server");
    learn(&env, "snapshot", &four_batches(0));
    assert_eq!(export(&env, &server.url()), export(&env, "snapshot"));
    assert_eq!(cli(server.port, &["dbsize"]).trim(), "8000", "a delta's hash was left behind");
}

#[test]
fn profiles_an_earlier_build_wrote_merge_as_a_snapshot_does() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let (first, second) = (records(30, 3, 0), records(30, 3, 1));
    learn(&env, &server.url(), &first);
    // Earlier builds kept a key's batch tokens in a key of their own beside the hash, not in its `_batches` field.
    for k in 0..30 {
        let hash = format!("kw:{{AKIAKEY{k:05}}}");
        assert_eq!(cli(server.port, &["hdel", &hash, "_batches"]).trim(), "1", "{hash}");
        cli(server.port, &["set", &format!("{hash}:batches"), "0123456789abcdef-0", "px", "3600000"]);
    }
    learn(&env, &server.url(), &second);
    learn(&env, "snapshot", &(first + &second));
    assert_eq!(export(&env, &server.url()), export(&env, "snapshot"));
}

#[test]
fn slots_moved_while_a_learn_runs_lose_nothing() {
    let Some(env) = redis_env() else { return };
    let cluster = Cluster::start(&env);
    let url = cluster.url();
    let (before, during) = (records(300, 2, 0), records(300, 2, 3));
    learn(&env, &url, &before);
    // A learn that has read the cluster's slot map, then half of the first master's slots move to the second.
    let run = Running::start(&env, &["learn", "--store", &url, "-"], &cluster.ports(), &[]);
    let (from, to) = (&cluster.servers[0], &cluster.servers[1]);
    let id = |server: &Server| cli(server.port, &["cluster", "myid"]).trim().to_string();
    let out = Command::new("redis-cli")
        .args(["--cluster", "reshard", &format!("127.0.0.1:{}", from.port), "--cluster-from", &id(from)])
        .args(["--cluster-to", &id(to), "--cluster-slots", "2700", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "reshard: {}", String::from_utf8_lossy(&out.stdout));
    let (code, stderr) = run.finish(&during);
    assert_eq!(code, Some(0), "{stderr}");
    let errors = cli(from.port, &["info", "errorstats"]);
    assert!(errors.contains("errorstat_MOVED:count="), "no write was redirected: {errors}");
    learn(&env, "snapshot", &(before + &during));
    assert_eq!(export(&env, &url), export(&env, "snapshot"));
}

#[test]
fn keys_of_a_slot_half_way_through_moving_are_followed_by_ask() {
    let Some(env) = redis_env() else { return };
    let cluster = Cluster::start(&env);
    let url = cluster.url();
    let (before, during, scored) = (records(40, 3, 0), records(60, 2, 1), records(60, 1, 2));
    learn(&env, &url, &before);
    // The slot of one profile starts moving to another master, and that profile moves (MIGRATE) while the slot
    // stays with its master: the master answers ASK for it, and for a new key of the slot.
    let hash = "kw:{AKIAKEY00000}";
    let (from, to) = cluster.half_move(hash);
    assert_eq!(cli(from.port, &["migrate", "127.0.0.1", &to.port.to_string(), hash, "0", "5000"]).trim(), "OK");
    let asked = errors_given(from.port, "ASK");
    learn(&env, &url, &during);
    assert!(errors_given(from.port, "ASK") > asked, "no command was sent on with ASK");
    learn(&env, "snapshot", &(before + &during));
    let stores = [url, "snapshot".to_string()];
    exported_alike(&env, &stores);
    scored_alike(&env, &stores, &[], &scored);
}

#[test]
fn keys_made_by_rename_in_a_slot_left_half_moved_are_merged_by_the_script() {
    let Some(env) = redis_env() else { return };
    let cluster = Cluster::start(&env);
    // The slot of a key of the last batch, which makes its keys by rename, is left half moved to another master
    // (a reshard stopped part way): RENAMENX of a new key there answers TRYAGAIN for as long as that lasts.
    let (_, to) = cluster.half_move("kw:{AKIAKEY07999}");
    let store = format!("{}?timeout=2", cluster.url());
    let stores = [store, "snapshot".to_string()];
    for store in &stores {
        learn(&env, store, &four_batches(0));
    }
    assert!(errors_given(to.port, "TRYAGAIN") > 0, "no rename was refused");
    exported_alike(&env, &stores);
    let keys: usize = cluster.ports().iter().map(|&port| cli(port, &["dbsize"]).trim().parse::<usize>().unwrap()).sum();
    assert_eq!(keys, 8000, "a delta's hash was left behind");
}

/// Stops (SIGSTOP) `stopped` while `args` runs against `store` (whose servers are on `ports`, reached with
/// `login`), then checks that the run fails within the URL's one-second timeout, naming `stopped`; the caller
/// resumes it. `input`, what the run reads, should be in the store already, so that only counts can change.
fn fails_when_stopped(env: &Env, store: &str, run: (&[&str], &str), ports: &[u16], login: &[&str], stopped: &Server) {
    let (args, input) = run;
    let args = [args, &["--store", store, "-"]].concat();
    let run = Running::start(env, &args, ports, login);
    signal(stopped.child.id(), "STOP");
    let (code, stderr) = run.finish(input);
    assert_eq!(code, Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains("did not answer within 1 s"), "{args:?}: {stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{}", stopped.port)), "{args:?}: the server is not named: {stderr}");
}

/// An export without its counts: a learn that failed may or may not have counted a batch the server got before
/// it stopped answering (the README says so); every value, time and identity must still be there.
fn without_counts(export: &str) -> String {
    export.split("\"count\":").map(|part| part.trim_start_matches(|c: char| c.is_ascii_digit())).collect()
}

#[test]
fn a_stopped_server_fails_runs_within_the_timeout_and_a_rerun_completes() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let store = format!("{}?timeout=1", server.url());
    let (before, during) = (records(700, 2, 0), records(700, 2, 1));
    learn(&env, &store, &before);
    for args in [&["learn"][..], &["score"]] {
        fails_when_stopped(&env, &store, (args, &before), &[server.port], &[], &server);
        signal(server.child.id(), "CONT");
    }
    signal(server.child.id(), "STOP");
    let out = env.run(&["profile", "export", "--store", &store], "");
    assert_eq!(out.code, 2, "{}", out.stderr);
    signal(server.child.id(), "CONT");
    learn(&env, &store, &during);
    learn(&env, "snapshot", &(before + &during));
    assert!(without_counts(&export(&env, &store)) == without_counts(&export(&env, "snapshot")), "profiles differ");
}

/// How many replies `code` the server on `port` has given.
fn errors_given(port: u16, code: &str) -> u64 {
    let stats = cli(port, &["info", "errorstats"]);
    let count = stats.lines().find_map(|line| line.strip_prefix(&format!("errorstat_{code}:count=")));
    count.map_or(0, |count| count.trim().parse().unwrap())
}

#[test]
fn a_server_still_loading_its_data_is_waited_for_until_the_timeout() {
    let Some(env) = redis_env() else { return };
    let (dir, port) = (env.path("redis"), free_port(false));
    {
        let server = Server::start(&dir, port, &["--enable-debug-command", "yes"]);
        assert_eq!(cli(server.port, &["debug", "populate", "40000"]).trim(), "OK");
        assert_eq!(cli(server.port, &["save"]).trim(), "OK");
    }
    // Restarted, it loads those keys for several seconds (100 µs each), answering LOADING meanwhile, as a server
    // with a big dataset does after a restart.
    let slow = ["--key-load-delay", "100", "--loading-process-events-interval-bytes", "1024"];
    let server = Server::start(&dir, port, &slow);
    assert!(cli(port, &["ping"]).starts_with("LOADING"), "the server is not loading");
    let input = records(30, 2, 0);
    let out = env.run(&["learn", "--store", &format!("{}?timeout=0.5", server.url()), "-"], &input);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("cannot connect to the servers in Redis {}", server.url()))
            && out.stderr.contains("loading")
            && out.stderr.contains("?timeout="),
        "{}",
        out.stderr
    );
    let refused = errors_given(port, "LOADING");
    // With the default timeout, 30 s, the learn waits until the data is loaded, and completes.
    assert!(cli(port, &["ping"]).starts_with("LOADING"), "the server finished loading too soon for this test");
    learn(&env, &server.url(), &input);
    assert!(errors_given(port, "LOADING") > refused + 1, "the learn never met LOADING");
    assert!(cli(port, &["dbsize"]).trim() == "40030");
    learn(&env, "snapshot", &input);
    exported_alike(&env, &[server.url(), "snapshot".to_string()]);
}

#[test]
fn a_cluster_refuses_a_wrong_password_at_once_and_a_stopped_master_fails_every_run() {
    let Some(env) = redis_env() else { return };
    let password = ["--requirepass", "clu-Pw", "--masterauth", "clu-Pw"];
    // Nodes that go on serving their slots while one master is down, as in the setting where listings lost keys.
    let lenient = ["--cluster-require-full-coverage", "no", "--cluster-node-timeout", "1000"];
    let login = ["-a", "clu-Pw", "--no-auth-warning"];
    let extra: Vec<String> = [&password[..], &lenient].concat().into_iter().map(String::from).collect();
    let cluster = Cluster::start_with(&env, |_| extra.clone(), &login);
    let nodes = cluster.url().replace("redis+cluster://", "");
    let input = records(900, 2, 0);
    let wrong = format!("redis+cluster://:not-it@{nodes}?timeout=1");
    let out = env.run(&["learn", "--store", &wrong, "-"], &input);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("refused the login: wrong password"), "{}", out.stderr);
    assert!(!out.stderr.contains("tries") && !out.stderr.contains("not-it"), "retried or printed: {}", out.stderr);

    let store = format!("redis+cluster://:clu-Pw@{nodes}?timeout=1");
    learn(&env, &store, &input);
    let stopped = &cluster.servers[1];
    for args in [&["learn"][..], &["score"]] {
        fails_when_stopped(&env, &store, (args, &input), &cluster.ports(), &login, stopped);
        signal(stopped.child.id(), "CONT");
    }
    // Once the other nodes hold the master as failed, a listing still must not skip its keys.
    signal(stopped.child.id(), "STOP");
    let live = cluster.servers[0].port;
    wait_for("the cluster to see the master fail", || {
        cli(live, &[&login[..], &["cluster", "nodes"]].concat()).contains("master,fail ")
    });
    for args in [&["profile", "export"][..], &["profile", "delete", "--all"], &["profile", "show"]] {
        let out = env.run(&[args, &["--store", &store]].concat(), "");
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(&format!("127.0.0.1:{}", stopped.port)), "{args:?}: {}", out.stderr);
    }
    signal(stopped.child.id(), "CONT");
    wait_for("the master to be back", || !cli(live, &[&login[..], &["cluster", "nodes"]].concat()).contains("fail"));
    learn(&env, &store, &input);
    learn(&env, "snapshot", &input);
    assert!(without_counts(&export(&env, &store)) == without_counts(&export(&env, "snapshot")), "profiles differ");
}

#[test]
fn a_field_keywatcher_did_not_write_is_named() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let input = records(1, 1, 0);
    learn(&env, &server.url(), &input);
    cli(server.port, &["hset", "kw:{AKIAKEY00000}", "ip:198.51.100.0", "many"]);
    let out = env.run(&["learn", "--store", &server.url(), "-"], &input);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("kw:{AKIAKEY00000}") && out.stderr.contains("ip:198.51.100.0"), "{}", out.stderr);
    // In a later chunk, whose keys are loaded ahead, off the socket: named as well.
    let (input, store) = (records(5000, 1, 1), format!("{}/1", server.url()));
    assert!(input.len() > 2 << 20, "{} bytes: one chunk", input.len());
    learn(&env, &store, &input);
    cli(server.port, &["-n", "1", "hset", "kw:{AKIAKEY04999}", "ip:198.51.100.0", "many"]);
    let out = env.run(&["score", "--store", &store, "-"], &input);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("kw:{AKIAKEY04999}") && out.stderr.contains("ip:198.51.100.0"), "{}", out.stderr);
}

#[test]
fn a_key_with_more_values_than_one_slice_of_the_script_merges_as_a_snapshot_does() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    // 1200 addresses for one key: the script reads and writes its values in slices of 500.
    let calls = |salt: usize| {
        let calls: Vec<_> = (0..1200)
            .map(|n| {
                let ip = format!("10.{}.{}.{}", salt, n / 250, n % 250);
                let time = format!("2026-11-{:02}T00:00:{:02}Z", 1 + salt, n % 60);
                record("AKIAMANY", &time, &ip, "aws-cli/2", "us-east-1", "GetObject")
            })
            .collect();
        ndjson(&calls)
    };
    for store in [server.url(), "snapshot".to_string()] {
        learn(&env, &store, &calls(0));
        learn(&env, &store, &(calls(0) + &calls(1)));
    }
    let exported = export(&env, "snapshot");
    assert_eq!(exported.matches("\"10.").count(), 2400);
    assert!(export(&env, &server.url()) == exported, "the profiles differ");
}

/// `score --learn` as an exec stage, stopped by SIGTERM, saves the same learned profiles into each store.
#[test]
fn score_learn_saves_into_every_store_alike() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let cluster = Cluster::start(&env);
    let stores = ["snapshot".to_string(), server.url(), cluster.url()];
    // And a key pinned to one address, seen from a new one in its /24: that address goes on probation.
    let pinned = |time: &str, ip: &str| {
        ndjson(&[record("AKIAPINNED0000000001", time, ip, "aws-cli/2.13.5", "us-east-1", "UpdateService")])
    };
    let first = records(40, 6, 0) + &pinned("2026-11-01T10:00:00Z", "203.0.113.10");
    let scored = records(40, 3, 1) + &pinned("2026-11-02T10:00:00Z", "203.0.113.57");
    for store in &stores {
        learn(&env, store, &first);
        let before = export(&env, store);
        let mut live = env.live(&["score", "--learn", "--store", store]);
        live.send(&scored);
        for _ in 0..121 {
            live.line();
        }
        live.signal("TERM");
        let (status, rest, stderr) = live.finish();
        assert!(status.success() && rest.is_empty(), "{store}: {status} {rest:?}\n{stderr}");
        assert_ne!(export(&env, store), before, "{store}: nothing learned\n{stderr}");
    }
    let exported = exported_alike(&env, &stores);
    assert!(exported.contains(r#""probation":{"203.0.113.57":"#), "{exported}");
}

#[test]
fn score_learn_goes_on_when_redis_does_not_answer_a_second_look_for_an_unknown_key() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let store = format!("{}?timeout=1", server.url());
    learn(&env, &store, &records(2, 2, 0));
    let unknown = ndjson(&[record(
        "AKIAEXAMPLEUNKNOWN01",
        "2026-11-03T09:00:00Z",
        "192.0.2.1",
        "curl/8",
        "us-east-1",
        "GetObject",
    )]);
    let mut live = env.live(&["score", "--learn", "--save-every", "1s", "--store", &store]);
    live.send(&unknown);
    assert!(live.line().contains("\"profile\":\"unknown\""));
    // Redis stops answering; after --save-every the key without a profile is looked up again, and that fails.
    signal(server.child.id(), "STOP");
    sleep(Duration::from_millis(1500));
    live.send(&unknown);
    let line = live.line_within(Duration::from_secs(30));
    signal(server.child.id(), "CONT");
    assert!(line.is_some_and(|l| l.contains("\"profile\":\"unknown\"")), "the stage ended with the failed look-up");
    live.signal("TERM");
    let (status, _, stderr) = live.finish();
    assert!(status.success(), "{status}\n{stderr}");
    assert!(stderr.contains("the keys without a profile are looked up again"), "{stderr}");
}

/// `score --learn` goes on after a save that failed, and saves again. The failed merge had its second batch of 2,000
/// keys in flight on the other set of connections when the first was refused by the merge script (a field keywatcher
/// did not write, put into every profile after the run loaded them), and the server refused that batch too. Once the
/// profiles are repaired, the last save must read its own replies, not those refusals left unread, and bring every
/// value and time learned to every profile.
#[test]
fn score_learn_saves_again_after_a_merge_failed_with_a_batch_in_flight() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    // 4,000 keys, one call each on the given day: two batches of merges.
    let day = |day: usize| {
        let calls: Vec<_> = (0..4000)
            .map(|k| {
                let (key, ip) = (format!("AKIAKEY{k:05}"), format!("198.51.100.{}", k % 7));
                let time = format!("2026-11-{day:02}T10:00:00Z");
                record(&key, &time, &ip, "aws-cli/2.13.5", "us-east-1", "DescribeInstances")
            })
            .collect();
        ndjson(&calls)
    };
    learn(&env, &server.url(), &day(1));
    // Saved once both days are learned, and at the end.
    let mut live = env.live(&["score", "--learn", "--save-records", "8000", "--store", &server.url()]);
    live.send(&day(2));
    (0..4000).for_each(|_| drop(live.line()));
    // Every profile is loaded and kept for the run; now each of its addresses holds what keywatcher did not write.
    let each_address = |change: &str| {
        let script = format!(
            "for _, key in ipairs(redis.call('KEYS', 'kw:{{*}}')) do local h = redis.call('HGETALL', key) \
             for i = 1, #h, 2 do if string.sub(h[i], 1, 3) == 'ip:' then \
             redis.call('HSET', key, h[i], {change}) end end end"
        );
        cli(server.port, &["eval", &script, "0"]);
    };
    each_address("'bad ' .. h[i + 1]");
    live.send(&day(3));
    (0..4000).for_each(|_| drop(live.line()));
    // The first batch refused, and some of the second, sent before the first was read: their refusals wait unread.
    wait_for("the second batch refused", || errors_given(server.port, "BADPROFILE") > 2000);
    each_address("string.sub(h[i + 1], 5)");
    live.close();
    let (status, _, stderr) = live.finish();
    assert!(stderr.contains("what was learned is kept, to be saved again"), "{stderr}");
    // Refused once, by the save that failed: not again by the last, reading the refusals left unread.
    assert!(status.success() && stderr.matches("BADPROFILE").count() == 1, "{status}\n{stderr}");
    learn(&env, "snapshot", &(day(1) + &day(2) + &day(3)));
    assert!(
        without_counts(&export(&env, &server.url())) == without_counts(&export(&env, "snapshot")),
        "profiles differ"
    );
}

#[test]
fn a_password_never_appears_whatever_fails() {
    let Some(env) = redis_env() else { return };
    let secret = "Sup3r-S3cret-PW";
    let other = Server::start(&env.path("other"), free_port(false), &["--requirepass", "another-one"]);
    let stopped = Server::start(&env.path("stopped"), free_port(false), &["--requirepass", secret]);
    signal(stopped.child.id(), "STOP");
    let nobody = free_port(false);
    let input = records(2, 1, 0);
    // Each way of giving the password, against a server that is down, one that refuses it, one that does not
    // answer, and addresses that are not valid.
    let hosts = [
        format!("127.0.0.1:{nobody}"),
        format!("127.0.0.1:{}", other.port),
        format!("127.0.0.1:{}", stopped.port),
        "127.0.0.1:notaport".to_string(),
        "[::1".to_string(),
    ];
    for host in &hosts {
        let url = format!("redis://:{secret}@{host}?timeout=1");
        let plain = format!("redis://{host}?timeout=1");
        let ways: [(&[(&str, &str)], &str); 4] = [
            (&[], &url),
            (&[("REDISCLI_AUTH", secret)], &plain),
            (&[("KEYWATCHER_REDIS_PASSWORD", secret)], &plain),
            (&[("KEYWATCHER_STORE", &url)], ""),
        ];
        for (vars, store) in ways {
            let vars = [vars, &[("RUST_BACKTRACE", "1")]].concat();
            let store_args: &[&str] = if store.is_empty() { &[] } else { &["--store", store] };
            for command in [&["learn", "-"][..], &["score", "-"], &["learn", "--help"]] {
                let args = [command, store_args].concat();
                let out = env.run_with(&vars, &args, &input);
                let printed = format!("{}{}", out.stdout, out.stderr);
                assert!(
                    !printed.contains(secret) && !printed.contains("S3cret"),
                    "{host} {vars:?} {args:?}: {printed}"
                );
                if command[1] != "--help" {
                    assert_eq!(out.code, 2, "{host} {vars:?} {args:?}: {printed}");
                }
            }
        }
    }
    signal(stopped.child.id(), "CONT");
}

/// Starts keywatcher with `args`, its output kept, and waits up to two minutes for it: a hang fails the test.
fn run_to_the_end(env: &Env, args: &[&str], during: impl FnOnce(u32)) -> (Option<i32>, String) {
    let child = Command::new(assert_cmd::cargo::cargo_bin("keywatcher"))
        .args(args)
        .env("XDG_STATE_HOME", env.path("state"))
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done, ended) = mpsc::channel();
    thread::spawn(move || done.send(child.wait_with_output().unwrap()));
    during(pid);
    match ended.recv_timeout(Duration::from_secs(120)) {
        Ok(out) => (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned()),
        Err(_) => {
            signal(pid, "KILL");
            panic!("keywatcher {args:?} still runs two minutes after its server was killed");
        }
    }
}

#[test]
fn a_server_killed_mid_merge_fails_the_learn_keeps_its_data_readable_and_a_rerun_completes() {
    let Some(env) = redis_env() else { return };
    let (dir, port) = (env.path("redis"), free_port(false));
    let server = Server::persistent(&dir, port);
    let url = server.url();
    // Enough keys that their merge, one script per key, takes a while after the input is read.
    let input = env.write("many-keys.ndjson", records(15_000, 1, 0));
    let input = input.to_str().unwrap();
    let server_pid = server.child.id();
    let (code, stderr) = run_to_the_end(&env, &["learn", "--store", &url, input], |_| {
        wait_for("the merge to start", || cli(port, &["dbsize"]).trim().parse::<u64>().is_ok_and(|n| n > 0));
        signal(server_pid, "KILL");
    });
    drop(server);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("Redis redis://127.0.0.1:{port}")), "the store is not named: {stderr}");

    // What the server had written loads again, every key readable; the same learn run again completes.
    let server = Server::persistent(&dir, port);
    wait_for("the server to load its data", || cli(port, &["ping"]).trim() == "PONG");
    let kept = env.run(&["profile", "export", "--store", &url], "");
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    let kept = kept.stdout.lines().count();
    assert!(kept > 0 && kept < 15_000, "the kill came mid-merge: {kept} keys kept");
    learn(&env, &url, &std::fs::read_to_string(input).unwrap());
    learn(&env, "snapshot", &std::fs::read_to_string(input).unwrap());
    assert!(without_counts(&export(&env, &server.url())) == without_counts(&export(&env, "snapshot")));
}

#[test]
fn a_server_killed_mid_score_fails_it_at_once_and_a_rerun_completes() {
    let Some(env) = redis_env() else { return };
    let (dir, port) = (env.path("redis"), free_port(false));
    let server = Server::persistent(&dir, port);
    let url = server.url();
    let input = records(50, 2, 0);
    learn(&env, &url, &input);
    // A score that has opened the store and waits for records when the server is killed.
    let run = Running::start(&env, &["score", "--store", &url, "-"], &[port], &[]);
    signal(server.child.id(), "KILL");
    let (code, stderr) = run.finish(&input);
    drop(server);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("Redis redis://127.0.0.1:{port}")), "the store is not named: {stderr}");
    let server = Server::persistent(&dir, port);
    wait_for("the server to load its data", || cli(port, &["ping"]).trim() == "PONG");
    let out = env.run(&["score", "--store", &server.url(), "-"], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines().len(), 100);
    assert!(out.lines().iter().all(|line| line["profile"] != "unknown"), "the profiles came back");
}

#[test]
fn hostile_keys_values_and_times_merge_as_a_snapshot_does() {
    let Some(env) = redis_env() else { return };
    let server = Server::start(&env.path("redis"), free_port(false), &[]);
    let cluster = Cluster::start(&env);
    let stores = ["snapshot".to_string(), server.url(), cluster.url()];
    // Braces in the key move its hash tag; the years before 0 and the fractions test the merge's time order.
    let keys = ["AKIA{X}Y", "AKIA}Z{", "ASIA€é\u{7f}"];
    let times =
        ["-000002-06-01T00:00:00Z", "-000001-03-01T00:00:00Z", "0000-01-01T00:00:00Z", "1969-12-31T23:59:59.5Z"];
    let huge = "u".repeat(20_000);
    let agents = ["aws-cli/2 \u{1}\r\n\"€\" {}", "aws-cli/2 {AKIA{X}Y}", huge.as_str(), "9999-12-31T23:59:59Z end"];
    let batch = |order: [usize; 2]| {
        let mut out = Vec::new();
        for key in keys {
            for n in order {
                out.push(record(key, times[n], "198.51.100.1", agents[n], "us-east-1", "GetObject"));
            }
        }
        ndjson(&out)
    };
    for store in &stores {
        // Each run brings a time earlier and one later than the other run's, for the IP, region and event.
        learn(&env, store, &batch([1, 3]));
        learn(&env, store, &batch([0, 2]));
    }
    let exported = exported_alike(&env, &stores);
    assert!(exported.contains("-000002-06-01T00:00:00Z"), "{exported}");
}

#[test]
fn a_replica_is_named_as_one_at_once_not_waited_for() {
    let Some(env) = redis_env() else { return };
    let master = Server::start(&env.path("master"), free_port(false), &[]);
    let replica_of = ["--replicaof", "127.0.0.1", &master.port.to_string()];
    let replica = Server::start(&env.path("replica"), free_port(false), &replica_of);
    let input = records(2, 1, 0);
    let named = |when: &str, (code, stderr): (Option<i32>, String)| {
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(when), "{stderr}");
        assert!(stderr.contains("read-only replica") && stderr.contains("its master"), "{stderr}");
        assert!(!stderr.contains("tries"), "a replica stays one: nothing to try again: {stderr}");
    };
    // Found before the input is read.
    let out = env.run(&["learn", "--store", &replica.url(), "-"], &input);
    named("cannot connect to the servers", (Some(out.code), out.stderr));
    // A server made a replica while a learn reads its input: its merge is refused, and not waited for.
    let other = Server::start(&env.path("other"), free_port(false), &[]);
    let store = format!("{}?timeout=1", other.url());
    let run = Running::start(&env, &["learn", "--store", &store, "-"], &[other.port], &[]);
    cli(other.port, &["replicaof", "127.0.0.1", &master.port.to_string()]);
    named("cannot merge profiles", run.finish(&input));
    assert_eq!(cli(master.port, &["dbsize"]).trim(), "0");
    // A login that may not ask the ROLE is taken at its word.
    cli(master.port, &["acl", "setuser", "norole", "on", ">pw", "~*", "+@all", "-role"]);
    learn(&env, &format!("redis://norole:pw@127.0.0.1:{}", master.port), &input);
}
