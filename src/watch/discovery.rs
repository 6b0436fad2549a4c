//! API discovery: which group/version/resources the API server serves, so that only those are
//! watched. A kind the server does not serve (MutatingAdmissionPolicy v1 before Kubernetes
//! 1.36) would otherwise answer 404 forever and hold readiness back.
//!
//! Aggregated discovery (`apidiscovery.k8s.io/v2`, GA in 1.30) answers in two requests; a
//! server without it answers the same `Accept` with the legacy documents, and then each wanted
//! group/version is read on its own, as client-go's discovery client falls back.

use std::collections::{BTreeSet, HashSet};

use http::header::ACCEPT;
use kube::Client;
use serde::Deserialize;
use serde_json::Value;

/// Aggregated discovery first (v2, then v2beta1 for older servers), plain JSON last: client-go's
/// `acceptDiscoveryFormats`.
const ACCEPT_AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("discovery request GET {path} failed: {source}")]
    Request {
        path: String,
        #[source]
        source: kube::Error,
    },
    #[error("discovery document {path} is malformed: {source}")]
    Malformed {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A resource's API coordinates: group (`""` for core), version, plural.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiResource {
    pub group: String,
    pub version: String,
    pub plural: String,
}

impl ApiResource {
    pub fn new(group: &str, version: &str, plural: &str) -> Self {
        ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
        }
    }

    /// `pods` or `mutatingadmissionpolicies.admissionregistration.k8s.io/v1`, for logs.
    pub fn display(&self) -> String {
        if self.group.is_empty() {
            format!("{}/{}", self.plural, self.version)
        } else {
            format!("{}.{}/{}", self.plural, self.group, self.version)
        }
    }
}

/// What the API server serves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Served(HashSet<ApiResource>);

impl Served {
    pub fn serves(&self, resource: &ApiResource) -> bool {
        self.0.contains(resource)
    }
}

impl FromIterator<ApiResource> for Served {
    fn from_iter<I: IntoIterator<Item = ApiResource>>(iter: I) -> Self {
        Served(iter.into_iter().collect())
    }
}

/// Reads what the server serves of `wanted`'s group/versions (others may be left out).
pub async fn discover(client: &Client, wanted: &[ApiResource]) -> Result<Served, Error> {
    let core = get(client, "/api", ACCEPT_AGGREGATED).await?;
    let groups = get(client, "/apis", ACCEPT_AGGREGATED).await?;
    match (
        Document::parse("/api", core)?,
        Document::parse("/apis", groups)?,
    ) {
        (Document::Aggregated(core), Document::Aggregated(groups)) => {
            Ok(core.into_iter().chain(groups).collect())
        }
        (core, groups) => {
            let mut offered = core.group_versions();
            offered.extend(groups.group_versions());
            legacy(client, wanted, &offered).await
        }
    }
}

/// Reads each wanted group/version the legacy lists offer (`/api/v1`, `/apis/{g}/{v}`).
async fn legacy(
    client: &Client,
    wanted: &[ApiResource],
    offered: &BTreeSet<(String, String)>,
) -> Result<Served, Error> {
    let group_versions: BTreeSet<(String, String)> = wanted
        .iter()
        .map(|r| (r.group.clone(), r.version.clone()))
        .filter(|gv| offered.contains(gv))
        .collect();
    let mut served = HashSet::new();
    for (group, version) in group_versions {
        let path = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let list = match get(client, &path, "application/json").await {
            Ok(list) => list,
            // Listed in /apis a moment ago, gone now (an aggregated API going away).
            Err(Error::Request {
                source: kube::Error::Api(status),
                ..
            }) if status.code == 404 => continue,
            Err(error) => return Err(error),
        };
        let list: ResourceList = parse(&path, list)?;
        served.extend(
            list.resources
                .into_iter()
                // Subresources (`pods/status`) are not watched.
                .filter(|r| !r.name.contains('/'))
                .map(|r| ApiResource::new(&group, &version, &r.name)),
        );
    }
    Ok(Served(served))
}

async fn get(client: &Client, path: &str, accept: &str) -> Result<Value, Error> {
    let request = http::Request::get(path)
        .header(ACCEPT, accept)
        .body(Vec::new())
        .map_err(|e| Error::Request {
            path: path.to_string(),
            source: kube::Error::HttpError(e),
        })?;
    client
        .request::<Value>(request)
        .await
        .map_err(|source| Error::Request {
            path: path.to_string(),
            source,
        })
}

fn parse<T: serde::de::DeserializeOwned>(path: &str, value: Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|source| Error::Malformed {
        path: path.to_string(),
        source,
    })
}

/// `/api` or `/apis` in whichever format the server answered.
enum Document {
    /// The resources of every group/version (`APIGroupDiscoveryList`).
    Aggregated(Vec<ApiResource>),
    /// The group/versions offered (`APIVersions`, `APIGroupList`).
    Legacy(BTreeSet<(String, String)>),
}

impl Document {
    fn parse(path: &str, value: Value) -> Result<Document, Error> {
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match kind {
            "APIGroupDiscoveryList" => {
                let list: GroupDiscoveryList = parse(path, value)?;
                Ok(Document::Aggregated(list.resources()))
            }
            "APIVersions" => {
                let versions: CoreVersions = parse(path, value)?;
                let offered = versions
                    .versions
                    .into_iter()
                    .map(|v| (String::new(), v))
                    .collect();
                Ok(Document::Legacy(offered))
            }
            _ => {
                let groups: GroupList = parse(path, value)?;
                let offered = groups
                    .groups
                    .into_iter()
                    .flat_map(|g| {
                        let name = g.name;
                        g.versions
                            .into_iter()
                            .map(move |v| (name.clone(), v.version))
                    })
                    .collect();
                Ok(Document::Legacy(offered))
            }
        }
    }

    fn group_versions(self) -> BTreeSet<(String, String)> {
        match self {
            Document::Aggregated(resources) => resources
                .into_iter()
                .map(|r| (r.group, r.version))
                .collect(),
            Document::Legacy(offered) => offered,
        }
    }
}

/// `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`: only what is read.
#[derive(Deserialize)]
struct GroupDiscoveryList {
    #[serde(default)]
    items: Vec<GroupDiscovery>,
}

#[derive(Deserialize)]
struct GroupDiscovery {
    #[serde(default)]
    metadata: GroupMeta,
    #[serde(default)]
    versions: Vec<VersionDiscovery>,
}

/// The core group's entry has no name.
#[derive(Default, Deserialize)]
struct GroupMeta {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct VersionDiscovery {
    version: String,
    #[serde(default)]
    resources: Vec<ResourceDiscovery>,
}

#[derive(Deserialize)]
struct ResourceDiscovery {
    resource: String,
}

impl GroupDiscoveryList {
    fn resources(self) -> Vec<ApiResource> {
        self.items
            .into_iter()
            .flat_map(|group| {
                let name = group.metadata.name;
                group.versions.into_iter().flat_map(move |version| {
                    let name = name.clone();
                    version
                        .resources
                        .into_iter()
                        .map(move |r| ApiResource::new(&name, &version.version, &r.resource))
                })
            })
            .collect()
    }
}

/// `/api`: `APIVersions`.
#[derive(Deserialize)]
struct CoreVersions {
    #[serde(default)]
    versions: Vec<String>,
}

/// `/apis`: `APIGroupList`.
#[derive(Deserialize)]
struct GroupList {
    #[serde(default)]
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    name: String,
    #[serde(default)]
    versions: Vec<GroupVersion>,
}

#[derive(Deserialize)]
struct GroupVersion {
    version: String,
}

/// `/api/v1`, `/apis/{g}/{v}`: `APIResourceList`.
#[derive(Deserialize)]
struct ResourceList {
    #[serde(default)]
    resources: Vec<ResourceName>,
}

#[derive(Deserialize)]
struct ResourceName {
    name: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aggregated_documents_list_every_resource_of_every_group_version() {
        let doc = json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "items": [
                {"metadata": {"name": "admissionregistration.k8s.io"}, "versions": [
                    {"version": "v1", "resources": [
                        {"resource": "validatingadmissionpolicies", "scope": "Cluster"}]},
                    {"version": "v1beta1", "resources": [
                        {"resource": "mutatingadmissionpolicies", "scope": "Cluster"}]}]},
                {"metadata": {}, "versions": [{"version": "v1", "resources": [
                    {"resource": "pods", "subresources": [{"subresource": "status"}]}]}]}
            ]
        });
        let Document::Aggregated(resources) = Document::parse("/apis", doc).unwrap() else {
            panic!("an APIGroupDiscoveryList is aggregated");
        };
        let served: Served = resources.into_iter().collect();
        let adm = "admissionregistration.k8s.io";
        assert!(served.serves(&ApiResource::new(adm, "v1", "validatingadmissionpolicies")));
        assert!(served.serves(&ApiResource::new(
            adm,
            "v1beta1",
            "mutatingadmissionpolicies"
        )));
        assert!(!served.serves(&ApiResource::new(adm, "v1", "mutatingadmissionpolicies")));
        assert!(served.serves(&ApiResource::new("", "v1", "pods")));
    }

    #[test]
    fn legacy_documents_offer_group_versions() {
        let core = json!({"kind": "APIVersions", "versions": ["v1"]});
        let groups = json!({"kind": "APIGroupList", "groups": [
            {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}]}]});
        let mut offered = Document::parse("/api", core).unwrap().group_versions();
        offered.extend(Document::parse("/apis", groups).unwrap().group_versions());
        assert_eq!(
            offered,
            BTreeSet::from([
                (String::new(), "v1".to_string()),
                ("apps".to_string(), "v1".to_string())
            ])
        );
    }

    #[test]
    fn a_malformed_document_is_an_error_naming_its_path() {
        let error = Document::parse("/apis", json!({"groups": "no"}))
            .err()
            .expect("malformed");
        assert!(error.to_string().contains("/apis"), "{error}");
    }
}
