//! The semantic-conventions metrics the kind tables do not report, and why. Every other
//! metric of the model (`shared/semconv/semconv_k8s_metrics.yaml`, v1.44) is the counterpart
//! of a family row; `tests/semconv.rs` checks both against the model.

const KUBELET: &str = "measured by the kubelet (stats API, cgroups), not part of any object";
const USAGE_RATIO: &str = "needs the container's CPU usage, which only the kubelet measures";

/// `(metric, reason)` for every model metric without a row.
pub const NOT_REPORTED: &[(&str, &str)] = &[
    ("k8s.pod.uptime", KUBELET),
    ("k8s.pod.cpu.time", KUBELET),
    ("k8s.pod.cpu.usage", KUBELET),
    ("k8s.pod.memory.usage", KUBELET),
    ("k8s.pod.memory.available", KUBELET),
    ("k8s.pod.memory.rss", KUBELET),
    ("k8s.pod.memory.working_set", KUBELET),
    ("k8s.pod.paging.faults", KUBELET),
    ("k8s.pod.network.io", KUBELET),
    ("k8s.pod.network.errors", KUBELET),
    ("k8s.pod.filesystem.available", KUBELET),
    ("k8s.pod.filesystem.capacity", KUBELET),
    ("k8s.pod.filesystem.usage", KUBELET),
    ("k8s.pod.volume.available", KUBELET),
    ("k8s.pod.volume.capacity", KUBELET),
    ("k8s.pod.volume.usage", KUBELET),
    ("k8s.pod.volume.inode.count", KUBELET),
    ("k8s.pod.volume.inode.used", KUBELET),
    ("k8s.pod.volume.inode.free", KUBELET),
    ("k8s.node.uptime", KUBELET),
    ("k8s.node.cpu.time", KUBELET),
    ("k8s.node.cpu.usage", KUBELET),
    ("k8s.node.system_container.cpu.usage", KUBELET),
    ("k8s.node.system_container.cpu.time", KUBELET),
    ("k8s.node.system_container.memory.usage", KUBELET),
    ("k8s.node.system_container.memory.working_set", KUBELET),
    ("k8s.node.filesystem.available", KUBELET),
    ("k8s.node.filesystem.capacity", KUBELET),
    ("k8s.node.filesystem.usage", KUBELET),
    ("k8s.node.filesystem.inode.count", KUBELET),
    ("k8s.node.filesystem.inode.free", KUBELET),
    ("k8s.node.memory.usage", KUBELET),
    ("k8s.node.memory.available", KUBELET),
    ("k8s.node.memory.rss", KUBELET),
    ("k8s.node.memory.working_set", KUBELET),
    ("k8s.node.paging.faults", KUBELET),
    ("k8s.node.network.io", KUBELET),
    ("k8s.node.network.errors", KUBELET),
    ("k8s.container.ephemeral_storage.usage", KUBELET),
    ("k8s.container.cpu.limit.utilization", USAGE_RATIO),
    ("k8s.container.cpu.request.utilization", USAGE_RATIO),
    (
        "k8s.service.endpoint.count",
        "a sum over all EndpointSlices of a Service (many objects, one series): not a per-object \
         value; kube_endpointslice_endpoints has the endpoints per slice",
    ),
    (
        "k8s.resourcequota.hugepage_count.request.hard",
        "the quota holds bytes (requests.hugepages-2Mi: 1Gi), the model counts pages: not \
         converted yet",
    ),
    (
        "k8s.resourcequota.hugepage_count.request.used",
        "the quota holds bytes (requests.hugepages-2Mi: 1Gi), the model counts pages: not \
         converted yet",
    ),
];
