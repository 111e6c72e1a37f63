//! Pod networking through CNI (Debian's bridge, host-local and portmap
//! plugins) on a bridge, subnet and IPAM directory this test makes: two
//! pods reach each other by address, the host reaches one through its
//! mapped port, /etc/hosts names the pod, and after removal no veth, no
//! address reservation and no iptables rule of the pods is left.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use podshim_tests::*;
use serde_json::{json, Value};

struct TestNet {
    bridge: String,
    ipam: std::path::PathBuf,
    host_port: u16,
}

impl Drop for TestNet {
    /// The bridge the test made goes with it, even when the test fails.
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

/// A network of this test's own in its CNI configuration directory;
/// `n` keeps the tests of this file apart (they run at once).
fn test_network(env: &mut TestEnv, n: u32) -> TestNet {
    let k = (std::process::id() % 60) * 4 + n + 10;
    let bridge = format!("pst{k}");
    let ipam = env.work.join("ipam");
    let conf_dir = env.work.join("cni");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let conf = json!({
        "cniVersion": "1.0.0",
        "name": "podshim-test",
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
             "hairpinMode": true,
             "ipam": {"type": "host-local", "dataDir": ipam,
                      "ranges": [[{"subnet": format!("10.234.{k}.0/24")}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
        ]
    });
    std::fs::write(conf_dir.join("10-test.conflist"), conf.to_string()).unwrap();
    env.cni_conf_dir = conf_dir;
    TestNet {
        bridge,
        ipam,
        host_port: 18_000 + k as u16,
    }
}

fn network_of(env: &TestEnv, pod: &str) -> Value {
    let v: Value = serde_json::from_str(&env.podctl_ok(&["inspect", pod])).unwrap();
    v["network"].clone()
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn reservations(ipam: &Path) -> Vec<String> {
    walk(ipam)
        .into_iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "lock" && !n.starts_with("last_reserved_ip"))
        .collect()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn pods_reach_each_other_and_the_host_reaches_a_mapped_port() {
    let mut env = TestEnv::new("cni");
    let net = test_network(&mut env, 0);
    let web = container_spec(&[
        "sh",
        "-c",
        "mkdir -p /tmp/www && echo hello-from-$(hostname) > /tmp/www/index.html && \
         exec httpd -f -p 8080 -h /tmp/www",
    ]);
    let dir = env.write_pod_with(
        "cniweb",
        "cni-web",
        &[("web", web)],
        json!({"ports": [{"host_port": net.host_port, "container_port": 8080}]}),
    );
    let web_pod = env.run_pod(&dir);
    let dir = env.write_pod(
        "cniclient",
        "cni-client",
        &[("client", container_spec(&["sleep", "1000"]))],
    );
    let client_pod = env.run_pod(&dir);

    let web_net = network_of(&env, &web_pod);
    let client_net = network_of(&env, &client_pod);
    let web_ip = web_net["ip"]
        .as_str()
        .expect("the web pod has an address")
        .to_string();
    let client_ip = client_net["ip"].as_str().unwrap().to_string();
    assert_ne!(web_ip, client_ip);
    // The state directory has it too.
    assert!(env.pod_dir(&web_pod).join("network.json").exists());

    // Pod to pod, by address (busybox wget's -T crashes: no timeout flag).
    let got = wait_for(Duration::from_secs(10), "the web pod to serve", || {
        let out = env.podctl(&[
            "exec",
            &client_pod,
            "client",
            "--",
            "wget",
            "-qO-",
            &format!("http://{web_ip}:8080/"),
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert_eq!(got.trim(), "hello-from-cni-web");

    // Host to pod, through the mapped port on the bridge's address.
    let gateway = web_net["gateway"].as_str().unwrap().to_string();
    let mut s = TcpStream::connect((gateway.as_str(), net.host_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.contains("hello-from-cni-web"), "{reply}");

    // /etc/hosts names the pod at its address; hostname and resolv.conf
    // are the pod's.
    let hosts = env.podctl_ok(&["exec", &web_pod, "web", "--", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{web_ip}\tcni-web")), "{hosts}");
    let hostname = env.podctl_ok(&["exec", &web_pod, "web", "--", "cat", "/etc/hostname"]);
    assert_eq!(hostname.trim(), "cni-web");
    let resolv = env.podctl_ok(&["exec", &web_pod, "web", "--", "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains("nameserver 127."), "{resolv}");

    // While they run: two veths on the bridge, two reservations, rules
    // for the web pod's port.
    assert_eq!(reservations(&net.ipam).len(), 2);
    let veths = sh(&format!("ip -o link show master {}", net.bridge));
    assert_eq!(veths.lines().count(), 2, "{veths}");
    assert!(sh("iptables-save -t nat").contains(&web_pod));

    env.podctl_ok(&["rm", "--timeout", "0", &web_pod]);
    env.podctl_ok(&["rm", "--timeout", "0", &client_pod]);
    assert_eq!(reservations(&net.ipam), Vec::<String>::new());
    assert_eq!(sh(&format!("ip -o link show master {}", net.bridge)), "");
    let nat = sh("iptables-save -t nat");
    assert!(
        !nat.contains(&web_pod) && !nat.contains(&client_pod),
        "{nat}"
    );
    drop(net);
    env.finish();
}

#[test]
fn a_crashed_pod_is_taken_off_the_network_by_rm() {
    let mut env = TestEnv::new("cnicrash");
    let net = test_network(&mut env, 1);
    let dir = env.write_pod_with(
        "cnicrash",
        "cnicrash",
        &[("app", container_spec(&["sleep", "1000"]))],
        json!({"ports": [{"host_port": net.host_port + 1, "container_port": 80, "protocol": "udp"}]}),
    );
    let pod = env.run_pod(&dir);
    assert_eq!(reservations(&net.ipam).len(), 1);
    // The shim dies; the pause and container live on.
    let shim = env.pod_record(&pod).shim.pid;
    let killed = Command::new("kill")
        .args(["-9", &shim.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_for(Duration::from_secs(5), "the shim to die", || {
        (!Path::new(&format!("/proc/{shim}")).exists()).then_some(())
    });
    env.podctl_ok(&["rm", "--timeout", "0", &pod]);
    assert_eq!(reservations(&net.ipam), Vec::<String>::new());
    assert_eq!(sh(&format!("ip -o link show master {}", net.bridge)), "");
    assert!(!sh("iptables-save -t nat").contains(&pod));
    drop(net);
    env.finish();
}

#[test]
fn bad_port_mappings_are_refused() {
    let env = TestEnv::new("cniports");
    for (ports, want) in [
        (json!([{"host_port": 0, "container_port": 80}]), "port 0"),
        (
            json!([{"host_port": 80, "container_port": 80, "protocol": "sctp"}]),
            "neither tcp nor udp",
        ),
        (
            json!([{"host_port": 80, "container_port": 80}, {"host_port": 80, "container_port": 81}]),
            "mapped twice",
        ),
    ] {
        let dir = env.write_pod_with(
            "ports",
            "ports",
            &[("app", container_spec(&["true"]))],
            json!({"ports": ports}),
        );
        let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
        assert!(err.contains(want), "{err}");
    }
    // Ports without any network to map them on.
    let dir = env.write_pod_with(
        "nonet",
        "nonet",
        &[("app", container_spec(&["true"]))],
        json!({"ports": [{"host_port": 8080, "container_port": 80}]}),
    );
    let err = env.podctl_err(&["run", dir.to_str().unwrap()]);
    assert!(err.contains("no CNI network"), "{err}");
    assert!(!env.pod_dir("nonet").exists());
    env.finish();
}
