//! Which container a cgroup path belongs to: the runtime and the container's id, recognised
//! from the names container runtimes give their cgroups (v1 and v2, systemd and cgroupfs
//! drivers). Pure: the path is `/proc/[pid]/cgroup`'s or a cgroup directory's.
//!
//! The path's components are read left to right and the last (innermost) one that names a
//! container wins, so docker-in-docker, kind (kubelet inside a docker container) and LXC
//! containers running docker give the innermost container, and a cgroup below a container's
//! (`.../libpod-<id>.scope/container`, kube-proxy's `.../<id>/kube-proxy`) is that container's.
//!
//! | runtime | component(s) |
//! |---|---|
//! | `docker` | `docker/<64 hex>` (cgroupfs driver), `docker-<64 hex>.scope` (systemd driver, rootless too) |
//! | `podman` | `libpod-<64 hex>.scope` (systemd driver, rootless too), `libpod-<64 hex>` (cgroupfs: `/libpod_parent/libpod-<id>`) |
//! | `containerd` | `cri-containerd-<64 hex>.scope`, `nerdctl-<64 hex>.scope` |
//! | `cri-o` | `crio-<64 hex>.scope` (systemd), `crio-<64 hex>` (cgroupfs) |
//! | `kubernetes` | `pod<uid>/<64 hex>`: the kubelet's cgroupfs driver (`/kubepods/burstable/pod<uid>/<id>`), whose path does not name the CRI runtime |
//! | `ecs` | `ecs/<task>/<64 hex>` and Fargate's `ecs/<task>/<32 hex>-<digits>` |
//! | `lxc` | `lxc.payload.<name>` (LXC 4+, LXD, Incus), `lxc.payload/<name>`, `lxc/<name>` (older LXC, Proxmox) |
//! | `systemd-nspawn` | `systemd-nspawn@<name>.service`, `machine-<name>.scope` (libvirt's `machine-qemu…` and `machine-lxc…` left out) |
//!
//! The systemd driver's pod containers name their runtime (`cri-containerd-`, `crio-`,
//! `docker-`), so they are `containerd`, `cri-o` or `docker`; containerd's colon form
//! (`kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>`, seen in v1 paths of k3s and kind)
//! likewise. Monitors that live beside a container (`libpod-conmon-<id>.scope`,
//! `crio-conmon-<id>.scope`, `lxc.monitor.<name>`, `docker.service`) are not in it.

/// A container recognised from a cgroup path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// `docker`, `podman`, `containerd`, `cri-o`, `kubernetes`, `ecs`, `lxc`, `systemd-nspawn`.
    pub runtime: &'static str,
    /// The runtime's id for it: 64 hex digits for the OCI runtimes, the name for LXC and nspawn.
    pub id: String,
}

/// The container `path` (a cgroup path, `/`-separated) belongs to; `None` outside one.
pub fn recognise(path: &str) -> Option<Container> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut found = None;
    for (i, part) in parts.iter().enumerate() {
        let parent = i.checked_sub(1).map(|j| parts[j]);
        let grandparent = i.checked_sub(2).map(|j| parts[j]);
        if let Some(c) = component(part, parent, grandparent) {
            found = Some(c);
        }
    }
    found
}

fn container(runtime: &'static str, id: &str) -> Option<Container> {
    Some(Container {
        runtime,
        id: id.to_string(),
    })
}

/// The container one component names, given the components above it.
fn component(part: &str, parent: Option<&str>, grandparent: Option<&str>) -> Option<Container> {
    // systemd units: `<prefix>-<id>.scope`.
    if let Some(unit) = part.strip_suffix(".scope") {
        for (prefix, runtime) in [
            ("docker-", "docker"),
            ("libpod-", "podman"),
            ("cri-containerd-", "containerd"),
            ("nerdctl-", "containerd"),
            ("crio-", "cri-o"),
        ] {
            if let Some(id) = unit.strip_prefix(prefix).filter(|id| is_hex(id, 64)) {
                return container(runtime, id);
            }
        }
        if let Some(name) = unit.strip_prefix("machine-") {
            let name = systemd_unescape(name);
            if !name.is_empty() && !name.starts_with("qemu-") && !name.starts_with("lxc-") {
                return container("systemd-nspawn", &name);
            }
        }
        return None;
    }
    if let Some(name) = part
        .strip_prefix("systemd-nspawn@")
        .and_then(|n| n.strip_suffix(".service"))
        .filter(|n| !n.is_empty())
    {
        return container("systemd-nspawn", &systemd_unescape(name));
    }
    // containerd's systemd cgroupsPath taken literally: `<slice>:cri-containerd:<id>`.
    if let Some((slice, rest)) = part.split_once(':')
        && slice.ends_with(".slice")
        && let Some((prefix, id)) = rest.split_once(':')
        && is_hex(id, 64)
    {
        let runtime = match prefix {
            "cri-containerd" => "containerd",
            "crio" => "cri-o",
            "docker" => "docker",
            _ => return None,
        };
        return container(runtime, id);
    }
    // cgroupfs drivers: `libpod-<id>`, `crio-<id>`.
    for (prefix, runtime) in [("libpod-", "podman"), ("crio-", "cri-o")] {
        if let Some(id) = part.strip_prefix(prefix).filter(|id| is_hex(id, 64)) {
            return container(runtime, id);
        }
    }
    if let Some(name) = part.strip_prefix("lxc.payload.").filter(|n| !n.is_empty()) {
        return container("lxc", name);
    }
    match parent {
        Some("lxc.payload" | "lxc") => return container("lxc", part),
        Some("docker") if is_hex(part, 64) => return container("docker", part),
        Some(p) if is_pod_dir(p) && is_hex(part, 64) => return container("kubernetes", part),
        _ => {}
    }
    if grandparent == Some("ecs") && (is_hex(part, 64) || is_fargate_id(part)) {
        return container("ecs", part);
    }
    None
}

/// Whether `s` is exactly `len` lowercase hex digits.
fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The kubelet's cgroupfs pod directory: `pod` and the pod's UID (`-` or `_` separated).
fn is_pod_dir(s: &str) -> bool {
    let Some(uid) = s.strip_prefix("pod") else { return false };
    let groups: Vec<&str> = uid.split(['-', '_']).collect();
    groups.len() == 5 && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, len)| is_hex(g, len))
}

/// ECS on Fargate: `<32 hex>-<digits>`.
fn is_fargate_id(s: &str) -> bool {
    s.split_once('-')
        .is_some_and(|(h, d)| is_hex(h, 32) && !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// systemd's unit-name escaping undone: `\x2d` is `-`, `-` itself stood for `/` only in path
/// units, which these are not.
fn systemd_unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && bytes.get(i + 1) == Some(&b'x')
            && let Some(v) = s.get(i + 2..i + 4).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d";
    const ID2: &str = "ec08435e04266c5ba381fccbb829f626d11d8ddf5f8f547263c7a2d79ab4787a";

    fn r(path: &str) -> Option<(&'static str, String)> {
        recognise(path).map(|c| (c.runtime, c.id))
    }

    fn is(path: &str, runtime: &'static str, id: &str) {
        assert_eq!(r(path), Some((runtime, id.to_string())), "{path}");
    }

    #[test]
    fn docker() {
        // cgroupfs driver (v1, and v2 without systemd).
        is(&format!("/docker/{ID}"), "docker", ID);
        // systemd driver, v1 and v2 alike.
        is(&format!("/system.slice/docker-{ID}.scope"), "docker", ID);
        // rootless docker under the user's systemd instance.
        is(
            &format!("/user.slice/user-1000.slice/user@1000.service/user.slice/docker-{ID}.scope"),
            "docker",
            ID,
        );
        // docker-in-docker (RancherOS): the inner container.
        is(&format!("/docker/{ID}/docker/{ID2}"), "docker", ID2);
        // The daemon itself and a short name are not containers.
        assert_eq!(r("/system.slice/docker.service"), None);
        assert_eq!(r("/system.slice/docker-compose@web.service"), None);
        assert_eq!(r("/docker/abc"), None, "an id is 64 hex digits");
        assert_eq!(r(&format!("/docker/{}", ID.to_uppercase())), None);
        assert_eq!(r("/docker"), None);
    }

    #[test]
    fn podman() {
        is(&format!("/machine.slice/libpod-{ID}.scope"), "podman", ID);
        // A container that runs systemd gets a `container` child cgroup.
        is(&format!("/machine.slice/libpod-{ID}.scope/container"), "podman", ID);
        // Inside a pod.
        is(
            &format!("/machine.slice/machine-libpod_pod_{ID2}.slice/libpod-{ID}.scope"),
            "podman",
            ID,
        );
        // Rootless.
        is(
            &format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"),
            "podman",
            ID,
        );
        // cgroupfs driver (v1).
        is(&format!("/libpod_parent/libpod-{ID}"), "podman", ID);
        // conmon watches the container from beside it.
        assert_eq!(r(&format!("/machine.slice/libpod-conmon-{ID}.scope")), None);
        assert_eq!(r("/libpod_parent/conmon"), None);
    }

    #[test]
    fn kubernetes_systemd_driver_names_the_runtime() {
        let uid = "poddd1bf9d1_241d_47f5_8e25_12de83135812";
        is(
            &format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-{uid}.slice/cri-containerd-{ID}.scope"
            ),
            "containerd",
            ID,
        );
        is(
            &format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-{uid}.slice/crio-{ID}.scope"),
            "cri-o",
            ID,
        );
        // Guaranteed pods sit directly under kubepods.slice; dockershim with the systemd driver.
        is(
            &format!("/kubepods.slice/kubepods-{uid}.slice/docker-{ID}.scope"),
            "docker",
            ID,
        );
        assert_eq!(
            r(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-{uid}.slice/crio-conmon-{ID}.scope"
            )),
            None
        );
        // The pod's own slice is no container.
        assert_eq!(
            r(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-{uid}.slice"
            )),
            None
        );
        assert_eq!(r("/kubepods.slice"), None);
    }

    #[test]
    fn kubernetes_colon_form() {
        // containerd's systemd cgroupsPath written literally (v1 paths on k3s and kind).
        is(
            &format!(
                "/system.slice/containerd.service/kubepods-besteffort-pod214f3ba8_4b69_4bdb_a7d5_5ecc73f04ae9.slice:cri-containerd:{ID}"
            ),
            "containerd",
            ID,
        );
        is(
            &format!("/kubepods-besteffort-pod72f7f152_440c_66ac_9084_e0fc1d8a910c.slice:crio:{ID}"),
            "cri-o",
            ID,
        );
        assert_eq!(r(&format!("/a.slice:other:{ID}")), None);
    }

    #[test]
    fn kubernetes_cgroupfs_driver() {
        let pod = "pod74ba62da-1a3d-11e7-bb11-080027cb0e22";
        is(&format!("/kubepods/besteffort/{pod}/{ID}"), "kubernetes", ID);
        is(&format!("/kubepods/burstable/{pod}/{ID}"), "kubernetes", ID);
        // Guaranteed pods: no QoS level.
        is(&format!("/kubepods/{pod}/{ID}"), "kubernetes", ID);
        // A child cgroup a container made (kube-proxy does).
        is(&format!("/kubepods/besteffort/{pod}/{ID}/kube-proxy"), "kubernetes", ID);
        // CRI-O with the cgroupfs driver names itself.
        is(&format!("/kubepods/burstable/{pod}/crio-{ID}"), "cri-o", ID);
        // Seen from another cgroup namespace: only the pod directory is left.
        is(&format!("/../../{pod}/{ID}"), "kubernetes", ID);
        // kind: a kubelet in a docker container; the pod's container is the innermost.
        is(
            &format!("/docker/{ID2}/kubepods/besteffort/{pod}/{ID}"),
            "kubernetes",
            ID,
        );
        is(&format!("/docker/{ID2}/kubepods/besteffort/{pod}"), "docker", ID2);
        assert_eq!(r(&format!("/kubepods/besteffort/{pod}")), None);
        assert_eq!(r(&format!("/kubepods/besteffort/podnotauid/{ID}")), None);
    }

    #[test]
    fn containerd_without_kubernetes() {
        is(&format!("/system.slice/nerdctl-{ID}.scope"), "containerd", ID);
    }

    #[test]
    fn cri_o_relative_v2_path() {
        is(&format!("/../crio-{ID}.scope"), "cri-o", ID);
    }

    #[test]
    fn ecs() {
        is(&format!("/ecs/5a081c13-b8cf-4801-b427-f4601742204d/{ID}"), "ecs", ID);
        let fargate = "34dc0b5e626f2c5c4c5170e34b10e765-1234567890";
        is(
            &format!("/ecs/34dc0b5e626f2c5c4c5170e34b10e765/{fargate}"),
            "ecs",
            fargate,
        );
        assert_eq!(r("/ecs/task/short"), None);
    }

    #[test]
    fn lxc() {
        is("/lxc.payload.web01", "lxc", "web01");
        // systemd inside the container: still that container.
        is("/lxc.payload.web01/system.slice/nginx.service", "lxc", "web01");
        is("/lxc.payload/web01", "lxc", "web01");
        // Proxmox and LXC before 4.0.
        is("/lxc/101", "lxc", "101");
        is("/lxc/101/ns/init.scope", "lxc", "101");
        // docker inside an LXC container.
        is(&format!("/lxc.payload.c1/system.slice/docker-{ID}.scope"), "docker", ID);
        assert_eq!(r("/lxc.monitor.web01"), None);
        assert_eq!(r("/lxc.monitor/101"), None);
        assert_eq!(r("/lxc.payload."), None);
    }

    #[test]
    fn systemd_nspawn() {
        is(
            "/machine.slice/systemd-nspawn@debian.service",
            "systemd-nspawn",
            "debian",
        );
        is(
            "/machine.slice/systemd-nspawn@my\\x2dbox.service/system.slice/cron.service",
            "systemd-nspawn",
            "my-box",
        );
        is("/machine.slice/machine-test\\x2d1.scope", "systemd-nspawn", "test-1");
        // libvirt's virtual machines and libvirt-lxc containers are not nspawn's.
        assert_eq!(r("/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope"), None);
        assert_eq!(r("/machine.slice/machine-lxc\\x2d1234\\x2dc1.scope"), None);
        assert_eq!(r("/machine.slice/systemd-nspawn@.service"), None);
    }

    #[test]
    fn no_container() {
        for p in [
            "",
            "/",
            "/init.scope",
            "/user.slice/user-1000.slice/session-3.scope",
            "/system.slice/containerd.service",
            "/system.slice/ssh.service",
            "/process_api/abc",
            "/user/1000.user/c2.session",
            &format!("/{ID}"),
            &format!("/default/{ID}"),
        ] {
            assert_eq!(r(p), None, "{p}");
        }
    }

    #[test]
    fn unescape() {
        assert_eq!(systemd_unescape("a\\x2db\\x20c"), "a-b c");
        assert_eq!(systemd_unescape("trailing\\x2"), "trailing\\x2");
        assert_eq!(systemd_unescape("\\xzz"), "\\xzz");
    }
}
