//! What one Kubernetes minor serves: the resources and versions of [`RESOURCES`] that exist
//! in that minor and are enabled, by default or through `--runtime-config`, plus the custom
//! resources whose CustomResourceDefinitions exist, in their served versions.
//!
//! Routing, discovery (legacy and aggregated), apply and cluster loading all ask the emulator's
//! current [`Surface`], so a version a minor does not serve, or a CRD no longer serves, is
//! invisible everywhere at once.

use std::collections::BTreeMap;

use crate::resources::{self, RESOURCES, ResourceId, ResourceType, group_version};

/// Oldest Kubernetes minor (1.x) the emulator can behave like.
pub const OLDEST_MINOR: u32 = 31;
/// Newest Kubernetes minor (1.x) the emulator can behave like.
pub const NEWEST_MINOR: u32 = 36;
/// The version an emulator reports unless told otherwise: the oldest minor still supported
/// upstream (1.34's patch support ended in October 2026; 1.35's runs to February 2027), so that
/// tests and the demo see what most production clusters serve, not everything this build knows
/// (1.35 does not serve MutatingAdmissionPolicy v1).
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.35.0";
/// The minor of [`DEFAULT_KUBERNETES_VERSION`] (a test keeps them in step).
const DEFAULT_MINOR: u32 = 35;

/// Errors from choosing a version or runtime-config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SurfaceError {
    /// The version is not `v1.MINOR[.PATCH]` or `1.MINOR`.
    #[error("invalid Kubernetes version {0:?}: expected v1.MINOR[.PATCH] or 1.MINOR")]
    InvalidVersion(String),
    /// The minor is outside [`OLDEST_MINOR`]..=[`NEWEST_MINOR`].
    #[error(
        "Kubernetes 1.{minor} is not emulated: supported versions are 1.{OLDEST_MINOR} to 1.{NEWEST_MINOR}"
    )]
    UnsupportedMinor {
        /// The minor asked for.
        minor: u32,
    },
    /// A runtime-config entry is not `group/version[=true|false]`.
    #[error("invalid runtime-config entry {0:?}: expected GROUP/VERSION[=true|false]")]
    InvalidRuntimeConfig(String),
    /// A runtime-config entry names a group/version the minor does not have.
    #[error("runtime-config: {group_version} does not exist in Kubernetes 1.{minor}")]
    UnknownGroupVersion {
        /// The entry's `group/version` (`v1` for the core group).
        group_version: String,
        /// The minor.
        minor: u32,
    },
}

/// `Result` with [`SurfaceError`].
pub type Result<T, E = SurfaceError> = std::result::Result<T, E>;

/// One served resource version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupVersionResource {
    /// API group, `""` for the core group.
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// Plural resource name.
    pub resource: &'static str,
}

/// The resources and versions one Kubernetes minor serves, given its runtime-config, and the
/// custom resources of the CustomResourceDefinitions that exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surface {
    minor: u32,
    git_version: String,
    /// `group/version` (`v1` for core) → enabled, overriding the version's default.
    runtime_config: BTreeMap<String, bool>,
    /// Custom resources of existing CRDs, as defined now: a version is served when its
    /// `enabled_by_default` is set (the CRD's `served`). Neither minor nor runtime-config
    /// applies to them.
    custom: BTreeMap<ResourceId, &'static ResourceType>,
}

impl Default for Surface {
    /// [`DEFAULT_KUBERNETES_VERSION`] without runtime-config.
    fn default() -> Self {
        Self {
            minor: DEFAULT_MINOR,
            git_version: DEFAULT_KUBERNETES_VERSION.into(),
            runtime_config: BTreeMap::new(),
            custom: BTreeMap::new(),
        }
    }
}

impl Surface {
    /// The surface of `version` (`v1.33.0`, `1.33`) with runtime-config overrides
    /// (`admissionregistration.k8s.io/v1beta1` → true).
    pub fn new(version: &str, runtime_config: &BTreeMap<String, bool>) -> Result<Self> {
        let minor = parse_minor(version)?;
        let git_version = if version.trim_start_matches('v').split('.').count() >= 3 {
            format!("v{}", version.trim_start_matches('v'))
        } else {
            format!("v1.{minor}.0")
        };
        Self {
            minor,
            git_version,
            runtime_config: BTreeMap::new(),
            custom: BTreeMap::new(),
        }
        .with_runtime_config(runtime_config.iter().map(|(k, v)| (k.as_str(), *v)))
    }

    /// The same runtime-config and custom resources on another version; fails if a
    /// runtime-config entry does not exist there, as kube-apiserver refuses to start with one.
    pub fn with_version(&self, version: &str) -> Result<Self> {
        Ok(Self {
            custom: self.custom.clone(),
            ..Self::new(version, &self.runtime_config)?
        })
    }

    /// This surface serving custom resource `r` as `rt` defines it (its CRD was written), or no
    /// longer serving it (`None`: its CRD was deleted).
    pub(crate) fn with_custom(&self, r: ResourceId, rt: Option<&'static ResourceType>) -> Self {
        let mut next = self.clone();
        match rt {
            Some(rt) => next.custom.insert(r, rt),
            None => next.custom.remove(&r),
        };
        next
    }

    /// The resource `r` as served now: its table row, or its CRD's current definition.
    pub fn resource_type(&self, r: ResourceId) -> &'static ResourceType {
        self.custom
            .get(&r)
            .copied()
            .unwrap_or_else(|| resources::get(r))
    }

    /// Every resource this surface knows, served or not: the table, then the custom
    /// resources of existing CRDs.
    fn ids(&self) -> impl Iterator<Item = ResourceId> + '_ {
        (0..RESOURCES.len()).chain(self.custom.keys().copied())
    }

    /// The custom resource of CRD `name` (`plural.group`), while the CRD exists.
    pub(crate) fn custom_by_name(&self, name: &str) -> Option<ResourceId> {
        self.custom
            .iter()
            .find(|(_, rt)| rt.qualified_name() == name)
            .map(|(r, _)| *r)
    }

    /// The resource of an object's `apiVersion` and `kind`, served or not.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<ResourceId> {
        resources::find_by_kind(
            self.ids().map(|r| (r, self.resource_type(r))),
            api_version,
            kind,
        )
    }

    /// A resource by `plural`, `plural.group`, kind or short name (see [`resources::by_name`]).
    pub fn by_name(&self, name: &str) -> Option<ResourceId> {
        resources::find_by_name(self.ids().map(|r| (r, self.resource_type(r))), name)
    }

    /// This surface with more runtime-config entries (later ones win).
    pub fn with_runtime_config<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, bool)>,
    ) -> Result<Self> {
        let mut next = self.clone();
        for (key, enabled) in entries {
            let gv = normalize_group_version(key)?;
            let (group, version) = resources::split_api_version(&gv);
            let exists = RESOURCES.iter().any(|r| {
                r.group == group && r.version(version).is_some_and(|v| v.exists_in(self.minor))
            });
            if !exists {
                return Err(SurfaceError::UnknownGroupVersion {
                    group_version: gv,
                    minor: self.minor,
                });
            }
            next.runtime_config.insert(gv, enabled);
        }
        Ok(next)
    }

    /// The minor (the `33` of 1.33).
    pub fn minor(&self) -> u32 {
        self.minor
    }

    /// `gitVersion` for `/version` (`v1.33.0`).
    pub fn git_version(&self) -> &str {
        &self.git_version
    }

    /// The runtime-config overrides, keyed by `group/version` (`v1` for the core group).
    pub fn runtime_config(&self) -> &BTreeMap<String, bool> {
        &self.runtime_config
    }

    /// Whether resource `r` is served under `version`.
    pub fn serves(&self, r: ResourceId, version: &str) -> bool {
        if resources::is_custom(r) {
            // Another emulator's custom resource, or one whose CRD is gone, is not served.
            return self
                .custom
                .get(&r)
                .and_then(|rt| rt.version(version))
                .is_some_and(|v| v.enabled_by_default);
        }
        let rt = &RESOURCES[r];
        rt.version(version).is_some_and(|v| {
            v.exists_in(self.minor)
                && self
                    .runtime_config
                    .get(&group_version(rt.group, v.name))
                    .copied()
                    .unwrap_or(v.enabled_by_default)
        })
    }

    /// Served versions of `r`, preferred first.
    pub fn served_versions(&self, r: ResourceId) -> impl Iterator<Item = &'static str> + '_ {
        self.resource_type(r)
            .versions
            .iter()
            .map(|v| v.name)
            .filter(move |v| self.serves(r, v))
    }

    /// The preferred served version of `r`, if it is served at all.
    pub fn preferred_version(&self, r: ResourceId) -> Option<&'static str> {
        self.served_versions(r).next()
    }

    /// The resource serving `plural` in `group` at `version`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<ResourceId> {
        self.ids().find(|&r| {
            let rt = self.resource_type(r);
            rt.group == group && rt.plural == plural && self.serves(r, version)
        })
    }

    /// Served resources of `group`/`version`, in table order, then custom ones by id.
    pub fn resources_of(&self, group: &str, version: &str) -> Vec<ResourceId> {
        self.ids()
            .filter(|&r| self.resource_type(r).group == group && self.serves(r, version))
            .collect()
    }

    /// Served versions of `group` (`""` for core), most preferred first: GA before beta before
    /// alpha, as the apiserver orders a group's versions.
    pub fn group_versions(&self, group: &str) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for r in self.ids().filter(|&r| self.resource_type(r).group == group) {
            for v in self.served_versions(r) {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        out.sort_by_key(|v| resources::version_priority(v));
        out
    }

    /// Non-core groups with at least one served version, in discovery order: the table's in
    /// table order, then the groups of CRDs by name, as the aggregator sorts the APIServices
    /// CRDs get (`GroupPriorityMinimum` 1000, below every built-in group, ties by name:
    /// kube-apiserver `pkg/controlplane/controller/crdregistration`).
    pub fn groups(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for rt in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
            if !out.contains(&rt.group) && !self.group_versions(rt.group).is_empty() {
                out.push(rt.group);
            }
        }
        let mut custom: Vec<&'static str> = self.custom.values().map(|rt| rt.group).collect();
        custom.sort_unstable();
        custom.dedup();
        for group in custom {
            if !out.contains(&group) && !self.group_versions(group).is_empty() {
                out.push(group);
            }
        }
        out
    }

    /// Every served (group, version, resource), sorted.
    pub fn served(&self) -> Vec<GroupVersionResource> {
        let mut out: Vec<GroupVersionResource> = self
            .ids()
            .flat_map(|r| {
                let rt = self.resource_type(r);
                self.served_versions(r)
                    .map(move |version| GroupVersionResource {
                        group: rt.group,
                        version,
                        resource: rt.plural,
                    })
            })
            .collect();
        out.sort();
        out
    }
}

/// What Kubernetes 1.`minor` serves by default (no runtime-config), sorted.
pub fn served(minor: u32) -> Result<Vec<GroupVersionResource>> {
    Ok(Surface::new(&format!("1.{minor}"), &BTreeMap::new())?.served())
}

/// The minor of `v1.33.0`, `1.33` or `v1.33.2-rc.1`, if it is one the emulator supports.
pub fn parse_minor(version: &str) -> Result<u32> {
    let invalid = || SurfaceError::InvalidVersion(version.to_string());
    let mut parts = version.strip_prefix('v').unwrap_or(version).split('.');
    if parts.next() != Some("1") {
        return Err(invalid());
    }
    let minor: u32 = parts
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(invalid)?;
    // The patch may carry a pre-release suffix (`0-rc.1`, whose dot makes a fourth part).
    if parts
        .next()
        .is_some_and(|p| !p.starts_with(|c: char| c.is_ascii_digit()))
    {
        return Err(invalid());
    }
    if !(OLDEST_MINOR..=NEWEST_MINOR).contains(&minor) {
        return Err(SurfaceError::UnsupportedMinor { minor });
    }
    Ok(minor)
}

/// Parses kube-apiserver's `--runtime-config` syntax: `group/version[=true|false]` entries
/// separated by commas (no value means true).
pub fn parse_runtime_config(text: &str) -> Result<BTreeMap<String, bool>> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (key, value) = entry.split_once('=').unwrap_or((entry, "true"));
            let enabled = match value {
                "true" => true,
                "false" => false,
                _ => return Err(SurfaceError::InvalidRuntimeConfig(entry.to_string())),
            };
            Ok((normalize_group_version(key)?, enabled))
        })
        .collect()
}

/// `group/version`, with the core group as `v1` (kube-apiserver also spells it `api/v1`).
fn normalize_group_version(key: &str) -> Result<String> {
    let key = key.trim();
    let key = key.strip_prefix("api/").unwrap_or(key);
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    match key.split_once('/') {
        Some((g, v)) if valid(g) && valid(v) => Ok(key.to_string()),
        None if valid(key) => Ok(key.to_string()),
        _ => Err(SurfaceError::InvalidRuntimeConfig(key.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADM: &str = "admissionregistration.k8s.io";

    fn adm(minor: u32) -> Vec<(&'static str, &'static str)> {
        served(minor)
            .unwrap()
            .into_iter()
            .filter(|g| g.group == ADM && g.resource.contains("admissionpolic"))
            .map(|g| (g.version, g.resource))
            .collect()
    }

    #[test]
    fn default_version_is_the_default_surface() {
        assert_eq!(
            Surface::new(DEFAULT_KUBERNETES_VERSION, &BTreeMap::new()).unwrap(),
            Surface::default()
        );
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_minor("v1.33.0"), Ok(33));
        assert_eq!(parse_minor("1.33"), Ok(33));
        assert_eq!(parse_minor("v1.34.2-rc.1"), Ok(34));
        assert_eq!(
            parse_minor("v1.30.0"),
            Err(SurfaceError::UnsupportedMinor { minor: 30 })
        );
        assert!(matches!(
            parse_minor("v1.37.0"),
            Err(SurfaceError::UnsupportedMinor { .. })
        ));
        for bad in ["", "v2.33.0", "1", "1.x", "v1.33.x", "latest"] {
            assert!(
                matches!(parse_minor(bad), Err(SurfaceError::InvalidVersion(_))),
                "{bad}"
            );
        }
        let s = Surface::new("1.33", &BTreeMap::new()).unwrap();
        assert_eq!(s.git_version(), "v1.33.0");
        let s = Surface::new("v1.34.2", &BTreeMap::new()).unwrap();
        assert_eq!(s.git_version(), "v1.34.2");
    }

    #[test]
    fn admission_policies_per_minor() {
        let vap = [
            ("v1", "validatingadmissionpolicies"),
            ("v1", "validatingadmissionpolicybindings"),
        ];
        for minor in OLDEST_MINOR..36 {
            assert_eq!(adm(minor), vap, "1.{minor}");
        }
        let mut with_map = vap.to_vec();
        with_map.extend([
            ("v1", "mutatingadmissionpolicies"),
            ("v1", "mutatingadmissionpolicybindings"),
        ]);
        with_map.sort();
        assert_eq!(adm(36), with_map);
    }

    #[test]
    fn runtime_config_enables_versions_that_exist() {
        let on = |v: &str| BTreeMap::from([(format!("{ADM}/{v}"), true)]);
        let map =
            |s: &Surface, v| s.serves(resources::by_name("mutatingadmissionpolicies").unwrap(), v);
        let vap = |s: &Surface, v| {
            s.serves(
                resources::by_name("validatingadmissionpolicies").unwrap(),
                v,
            )
        };
        let s = Surface::new("1.35", &on("v1beta1")).unwrap();
        assert!(map(&s, "v1beta1") && !map(&s, "v1") && !map(&s, "v1alpha1"));
        assert_eq!(s.group_versions(ADM), ["v1", "v1beta1"]);
        let s = Surface::new("1.33", &on("v1beta1")).unwrap();
        assert!(vap(&s, "v1beta1") && !map(&s, "v1beta1"));
        let s = Surface::new("1.32", &on("v1alpha1")).unwrap();
        assert!(map(&s, "v1alpha1") && !vap(&s, "v1alpha1"));
        let s = Surface::new("1.31", &on("v1alpha1")).unwrap();
        assert!(vap(&s, "v1alpha1") && !map(&s, "v1alpha1"));
        assert_eq!(
            Surface::new("1.31", &on("v1beta2")),
            Err(SurfaceError::UnknownGroupVersion {
                group_version: format!("{ADM}/v1beta2"),
                minor: 31
            })
        );
        // Disabling a GA version hides it; the group goes when its last version goes.
        let s = Surface::new("1.33", &BTreeMap::from([("apps/v1".to_string(), false)])).unwrap();
        assert!(!s.groups().contains(&"apps"));
        assert!(s.resource("apps", "v1", "deployments").is_none());
        assert!(s.resource("", "v1", "pods").is_some());
        // An upgrade keeps the runtime-config.
        let s = Surface::new("1.34", &on("v1beta1")).unwrap();
        let up = s.with_version("v1.36.0").unwrap();
        assert!(map(&up, "v1beta1") && map(&up, "v1") && up.git_version() == "v1.36.0");
    }

    #[test]
    fn runtime_config_syntax() {
        assert_eq!(
            parse_runtime_config("admissionregistration.k8s.io/v1beta1=true, apps/v1=false,api/v1")
                .unwrap(),
            BTreeMap::from([
                ("admissionregistration.k8s.io/v1beta1".to_string(), true),
                ("apps/v1".to_string(), false),
                ("v1".to_string(), true),
            ])
        );
        for bad in ["apps/v1=yes", "=true", "a/b/c=true", "apps/=true"] {
            assert!(parse_runtime_config(bad).is_err(), "{bad}");
        }
    }
}
