//! Kinds read as server-side Tables ([`Read::Table`]: Secrets), so that nothing of an object
//! but its metadata and the printed columns the families read ever leaves the API server.
//!
//! kube's watcher decodes list and watch bodies as `ObjectList<K>` and `WatchEvent<K>`, and a
//! Table fits neither: it has `rows` where a list has `items`, and wraps each watch event's
//! object in a one-row Table. So the watcher of such a kind talks to the API server through a
//! client of its own ([`client`]) — the pipeline's client behind a service that asks for
//! `application/json;as=Table;v=v1;g=meta.k8s.io` with `includeObject=Metadata`, and turns
//! each Table back into what kube expects, every object holding its row's metadata plus each
//! read column's cell at its field (a Secret: metadata and `.type`):
//!
//! - a list page becomes an object list of its rows, with the Table's `metadata`
//!   (resourceVersion, continue) as the list's;
//! - an ADDED, MODIFIED or DELETED event carries its one row as such an object. The apiserver
//!   sends a watch's `columnDefinitions` with its first event only (null afterwards), so the
//!   column positions are kept per stream;
//! - a BOOKMARK's Table is the apiserver's conversion of the bookmark's empty object: one row
//!   of empty cells whose object holds the bookmark's metadata (the initial-events-end
//!   annotation of a streaming list included), passed on as the bookmark's object;
//! - an ERROR event carries a Status, as with any media type, and is passed on as is.
//!
//! Selectors, paging, resourceVersions, bookmarks, 410s and sharding are the watcher's as for
//! any kind. There is no fallback to whole objects, which would carry a Secret's data: a server
//! that cannot serve Tables (406) or answers with something else fails the list or watch with
//! a [`TableError`], which the watcher logs and retries with backoff; an answer that cannot be
//! read as a Table is also counted as an object that could not be decoded.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use kube::Client;
use kube::client::Body;
use serde::Deserialize;
use serde_json::{Value, json};
use tower::{BoxError, Service};

use super::api_calls::{list_or_watch, with_query_param};
use crate::kinds::{KubeObject, TableColumn};
use crate::telemetry::{ApiCall, Telemetry};

/// The media type asked for: only Tables, so a server without them answers 406 rather than
/// whole objects.
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// Why a Table list or watch could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(
        "the API server does not serve this resource as meta.k8s.io/v1 Tables (406 Not Acceptable); it is not read, since whole objects would carry their data"
    )]
    NotAcceptable,
    #[error(
        "the API server answered a Table request with {0:?}, not a meta.k8s.io/v1 Table; it is not read, since whole objects would carry their data"
    )]
    NotATable(String),
    #[error("the Table has no column {0:?}")]
    MissingColumn(&'static str),
    #[error("a Table row has no cell for column {0:?}")]
    MissingCell(&'static str),
    #[error("a Table row has no object metadata (includeObject=Metadata was not honoured)")]
    NoMetadata,
    #[error("a Table watch event came before any column definitions")]
    NoColumns,
    #[error("a {0} watch event holds {1} Table rows, not one")]
    Rows(String, usize),
    #[error("the Table cannot be decoded: {0}")]
    Json(#[from] serde_json::Error),
}

type TableBody = UnsyncBoxBody<Bytes, BoxError>;

/// `client` for the watcher of kind `O`, reading it as Tables of `columns`; `label` is the
/// kind's `resource` label for the decode-failure count.
pub fn client<O: KubeObject>(
    client: Client,
    columns: &'static [TableColumn],
    label: &str,
    telemetry: Arc<Telemetry>,
) -> Client {
    let namespace = client.default_namespace().to_string();
    let shape = Shape {
        api_version: O::API_VERSION,
        kind: O::KIND,
        columns,
        label: label.to_string(),
        telemetry,
    };
    Client::new(
        TableRead {
            client,
            shape: Arc::new(shape),
        },
        namespace,
    )
}

/// What the objects made from rows look like, and where failures are counted.
struct Shape {
    api_version: &'static str,
    kind: &'static str,
    columns: &'static [TableColumn],
    label: String,
    telemetry: Arc<Telemetry>,
}

/// The service in front of the pipeline's client (see the module docs).
struct TableRead {
    client: Client,
    shape: Arc<Shape>,
}

impl Service<Request<Body>> for TableRead {
    type Response = Response<TableBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<TableBody>, BoxError>>;

    /// The client it sends through queues requests itself.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let client = self.client.clone();
        let shape = self.shape.clone();
        Box::pin(async move {
            let call = list_or_watch(&request).map(|(_, call)| call);
            let mut request = with_query_param(request, "includeObject", "Metadata");
            request
                .headers_mut()
                .insert(header::ACCEPT, HeaderValue::from_static(TABLE));
            let response = client.send(request).await?;
            if response.status() == StatusCode::NOT_ACCEPTABLE {
                return Err(TableError::NotAcceptable.into());
            }
            match call {
                Some(call) if response.status().is_success() => shape.rewrite(call, response).await,
                _ => Ok(response.map(|body| body.map_err(BoxError::from).boxed_unsync())),
            }
        })
    }
}

impl Shape {
    async fn rewrite(
        self: Arc<Self>,
        call: ApiCall,
        response: Response<Body>,
    ) -> Result<Response<TableBody>, BoxError> {
        let (mut parts, body) = response.into_parts();
        // The body changes length.
        parts.headers.remove(header::CONTENT_LENGTH);
        let body = match call {
            ApiCall::List => {
                let table = body.collect().await?.to_bytes();
                let list = self.counted(self.list(&table))?;
                Full::new(Bytes::from(list))
                    .map_err(|never| match never {})
                    .boxed_unsync()
            }
            ApiCall::Watch => {
                let mut events = WatchEvents {
                    shape: self,
                    positions: None,
                    pending: Vec::new(),
                };
                let frames = body.into_data_stream().map(move |chunk| {
                    let chunk = chunk.map_err(BoxError::from)?;
                    let events = events.push(&chunk)?;
                    Ok::<_, BoxError>(Frame::data(Bytes::from(events)))
                });
                StreamBody::new(frames).boxed_unsync()
            }
        };
        Ok(Response::from_parts(parts, body))
    }

    /// `result`, its failure counted as an object that could not be decoded.
    fn counted<T>(&self, result: Result<T, TableError>) -> Result<T, TableError> {
        if result.is_err() {
            self.telemetry.count_decode(&self.label, 0, true);
        }
        result
    }

    /// A Table list page as an object list.
    fn list(&self, body: &[u8]) -> Result<Vec<u8>, TableError> {
        let table = Table::decode(body)?;
        let positions = self.positions(table.column_definitions.as_deref())?;
        let items = table
            .rows
            .into_iter()
            .map(|row| self.object(row, &positions))
            .collect::<Result<Vec<_>, _>>()?;
        let list = json!({
            "apiVersion": self.api_version,
            "kind": format!("{}List", self.kind),
            "metadata": table.metadata,
            "items": items,
        });
        Ok(serde_json::to_vec(&list)?)
    }

    /// Where the read columns are among `columns`, found by name.
    fn positions(&self, columns: Option<&[ColumnDefinition]>) -> Result<Vec<usize>, TableError> {
        self.columns
            .iter()
            .map(|wanted| {
                columns
                    .unwrap_or_default()
                    .iter()
                    .position(|c| c.name == wanted.column)
                    .ok_or(TableError::MissingColumn(wanted.column))
            })
            .collect()
    }

    /// The object a row stands for: its metadata, and each read column's cell at its field.
    fn object(&self, row: Row, positions: &[usize]) -> Result<Value, TableError> {
        let metadata = row
            .object
            .and_then(|o| o.metadata)
            .ok_or(TableError::NoMetadata)?;
        let mut object = json!({
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": metadata,
        });
        for (column, &at) in self.columns.iter().zip(positions) {
            let cell = row
                .cells
                .get(at)
                .ok_or(TableError::MissingCell(column.column))?;
            object[column.field] = cell.clone();
        }
        Ok(object)
    }
}

/// A watch stream's Tables, turned into events of objects line by line (the apiserver ends
/// every event with a newline; a cut-off last line is dropped, as kube drops it).
struct WatchEvents {
    shape: Arc<Shape>,
    /// The read columns' positions, from the stream's first Table.
    positions: Option<Vec<usize>>,
    pending: Vec<u8>,
}

impl WatchEvents {
    /// The events of the lines `chunk` completes.
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, TableError> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if line.trim_ascii().is_empty() {
                continue;
            }
            let event = self.event(&line);
            out.extend_from_slice(&self.shape.counted(event)?);
            out.push(b'\n');
        }
        Ok(out)
    }

    fn event(&mut self, line: &[u8]) -> Result<Vec<u8>, TableError> {
        let event: WatchEvent = serde_json::from_slice(line)?;
        if event.kind == "ERROR" {
            return Ok(line.trim_ascii_end().to_vec());
        }
        let table = Table::decode(event.object.get().as_bytes())?;
        if table.column_definitions.is_some() {
            self.positions = Some(self.shape.positions(table.column_definitions.as_deref())?);
        }
        let mut rows = table.rows;
        if rows.len() != 1 {
            return Err(TableError::Rows(event.kind, rows.len()));
        }
        let row = rows.remove(0);
        let object = if event.kind == "BOOKMARK" {
            // Only the bookmark's metadata matters; servers that leave the row's object out
            // still give the Table's resourceVersion.
            let metadata = row.object.and_then(|o| o.metadata).unwrap_or_else(
                || json!({"resourceVersion": table.metadata.get("resourceVersion")}),
            );
            json!({
                "apiVersion": self.shape.api_version,
                "kind": self.shape.kind,
                "metadata": metadata,
            })
        } else {
            let positions = self.positions.as_deref().ok_or(TableError::NoColumns)?;
            self.shape.object(row, positions)?
        };
        Ok(serde_json::to_vec(
            &json!({"type": event.kind, "object": object}),
        )?)
    }
}

#[derive(Deserialize)]
struct WatchEvent<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    object: &'a serde_json::value::RawValue,
}

/// The parts of a meta.k8s.io/v1 Table read here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Table {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    metadata: serde_json::Map<String, Value>,
    column_definitions: Option<Vec<ColumnDefinition>>,
    #[serde(default)]
    rows: Vec<Row>,
}

impl Table {
    fn decode(json: &[u8]) -> Result<Table, TableError> {
        let table: Table = serde_json::from_slice(json)?;
        if table.kind != "Table" || table.api_version != "meta.k8s.io/v1" {
            return Err(TableError::NotATable(format!(
                "{} {}",
                table.api_version, table.kind
            )));
        }
        Ok(table)
    }
}

#[derive(Deserialize)]
struct ColumnDefinition {
    name: String,
}

#[derive(Deserialize)]
struct Row {
    #[serde(default)]
    cells: Vec<Value>,
    object: Option<RowObject>,
}

#[derive(Deserialize)]
struct RowObject {
    metadata: Option<Value>,
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Secret;

    use super::*;

    fn shape() -> (Shape, Arc<Telemetry>) {
        let telemetry = Telemetry::new();
        let shape = Shape {
            api_version: "v1",
            kind: "Secret",
            columns: &[TableColumn {
                column: "Type",
                field: "type",
            }],
            label: "*v1.Secret".to_string(),
            telemetry: telemetry.clone(),
        };
        (shape, telemetry)
    }

    /// Column definitions in another order than the printer's: the Type column is found by
    /// name.
    const COLUMNS: &str = concat!(
        r#"[{"name":"Name","type":"string","format":"name","description":"","priority":0},"#,
        r#"{"name":"Data","type":"string","format":"","description":"","priority":0},"#,
        r#"{"name":"Type","type":"string","format":"","description":"","priority":0}]"#
    );

    fn row(name: &str, ty: &str, rv: &str) -> String {
        format!(
            r#"{{"cells":["{name}",1,"{ty}"],"object":{{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{{"name":"{name}","namespace":"ns","resourceVersion":"{rv}","labels":{{"app":"a"}}}}}}}}"#
        )
    }

    fn table(columns: &str, rows: &[String], meta: &str) -> String {
        format!(
            r#"{{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{meta},"columnDefinitions":{columns},"rows":[{}]}}"#,
            rows.join(",")
        )
    }

    #[test]
    fn a_list_page_becomes_an_object_list_of_metadata_and_type() {
        let (shape, telemetry) = shape();
        let page = table(
            COLUMNS,
            &[row("a", "Opaque", "5"), row("b", "kubernetes.io/tls", "6")],
            r#"{"resourceVersion":"9","continue":"next"}"#,
        );
        let list = shape.list(page.as_bytes()).expect("a Table");
        let list: kube::core::ObjectList<Secret> = serde_json::from_slice(&list).expect("a list");
        assert_eq!(list.metadata.resource_version.as_deref(), Some("9"));
        assert_eq!(list.metadata.continue_.as_deref(), Some("next"));
        let got: Vec<_> = list
            .items
            .iter()
            .map(|s| {
                (
                    s.metadata.name.as_deref(),
                    s.metadata.resource_version.as_deref(),
                    s.type_.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some("a"), Some("5"), Some("Opaque")),
                (Some("b"), Some("6"), Some("kubernetes.io/tls"))
            ]
        );
        assert!(list.items.iter().all(|s| s.data.is_none()));
        let empty = table(COLUMNS, &[], r#"{"resourceVersion":"9"}"#);
        assert_eq!(
            serde_json::from_slice::<Value>(&shape.list(empty.as_bytes()).expect("a Table"))
                .expect("JSON")["items"],
            json!([])
        );
        assert_eq!(telemetry.decode_failures("*v1.Secret"), 0);
    }

    #[test]
    fn what_is_not_a_table_of_the_columns_fails_and_is_counted() {
        let (shape, telemetry) = shape();
        let full = r#"{"kind":"SecretList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a"},"data":{"k":"c2VjcmV0"}}]}"#;
        let fails = |body: &str| shape.counted(shape.list(body.as_bytes())).map(|_| ());
        assert!(matches!(fails(full), Err(TableError::NotATable(kind)) if kind == "v1 SecretList"));
        let no_type = table(
            r#"[{"name":"Name"},{"name":"Age"}]"#,
            &[row("a", "Opaque", "1")],
            "{}",
        );
        assert!(matches!(
            fails(&no_type),
            Err(TableError::MissingColumn("Type"))
        ));
        let no_object = table(
            COLUMNS,
            &[r#"{"cells":["a",1,"Opaque"],"object":null}"#.into()],
            "{}",
        );
        assert!(matches!(fails(&no_object), Err(TableError::NoMetadata)));
        let short = table(
            COLUMNS,
            &[r#"{"cells":["a"],"object":{"metadata":{"name":"a"}}}"#.into()],
            "{}",
        );
        assert!(matches!(
            fails(&short),
            Err(TableError::MissingCell("Type"))
        ));
        assert!(matches!(fails("not json"), Err(TableError::Json(_))));
        assert_eq!(telemetry.decode_failures("*v1.Secret"), 5);
    }

    fn events(shape: Shape) -> WatchEvents {
        WatchEvents {
            shape: Arc::new(shape),
            positions: None,
            pending: Vec::new(),
        }
    }

    /// One watch event line, as the apiserver ends it.
    fn event(kind: &str, object: &str) -> String {
        format!("{{\"type\":\"{kind}\",\"object\":{object}}}\n")
    }

    fn decoded(out: &[u8]) -> Vec<kube::core::WatchEvent<Secret>> {
        out.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("a watch event"))
            .collect()
    }

    #[test]
    fn watch_events_keep_the_first_events_columns_and_pass_bookmarks_and_errors() {
        let (shape, _) = shape();
        let mut events = events(shape);
        let added = event(
            "ADDED",
            &table(
                COLUMNS,
                &[row("a", "Opaque", "5")],
                r#"{"resourceVersion":"5"}"#,
            ),
        );
        let modified = event(
            "MODIFIED",
            &table(
                "null",
                &[row("a", "kubernetes.io/tls", "6")],
                r#"{"resourceVersion":"6"}"#,
            ),
        );
        let bookmark = event("BOOKMARK", &table(
                "null",
                &[r#"{"cells":["","",0,"<unknown>"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"8","annotations":{"k8s.io/initial-events-end":"true"}}}}"#.into()],
                r#"{"resourceVersion":"8"}"#
            )
        );
        let error = r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}"#;
        let stream = format!("{added}{modified}{bookmark}{error}\n");
        // Chunks split anywhere, events and all.
        let mut out = Vec::new();
        for chunk in stream.as_bytes().chunks(7) {
            out.extend(events.push(chunk).expect("Table events"));
        }
        let got = decoded(&out);
        assert_eq!(got.len(), 4);
        let kube::core::WatchEvent::Added(a) = &got[0] else {
            panic!("{:?}", got[0])
        };
        assert_eq!(a.type_.as_deref(), Some("Opaque"));
        assert_eq!(a.metadata.labels, Some([("app".into(), "a".into())].into()));
        let kube::core::WatchEvent::Modified(m) = &got[1] else {
            panic!("{:?}", got[1])
        };
        assert_eq!(m.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(m.metadata.resource_version.as_deref(), Some("6"));
        let kube::core::WatchEvent::Bookmark(b) = &got[2] else {
            panic!("{:?}", got[2])
        };
        assert_eq!(b.metadata.resource_version, "8");
        assert!(
            b.metadata
                .annotations
                .contains_key("k8s.io/initial-events-end")
        );
        let kube::core::WatchEvent::Error(e) = &got[3] else {
            panic!("{:?}", got[3])
        };
        assert_eq!(e.code, 410);
    }

    #[test]
    fn a_watch_without_column_definitions_or_of_whole_objects_fails() {
        let (shape, telemetry) = shape();
        let headless = event("ADDED", &table("null", &[row("a", "Opaque", "5")], "{}"));
        assert!(matches!(
            events(shape).push(headless.as_bytes()),
            Err(TableError::NoColumns)
        ));
        let (shape, _) = self::shape();
        let whole = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":\"eA==\"}}}\n";
        assert!(matches!(
            events(shape).push(whole.as_bytes()),
            Err(TableError::NotATable(_))
        ));
        let (shape, _) = self::shape();
        let two = event(
            "DELETED",
            &table(
                COLUMNS,
                &[row("a", "Opaque", "5"), row("b", "Opaque", "6")],
                "{}",
            ),
        );
        assert!(matches!(
            events(shape).push(two.as_bytes()),
            Err(TableError::Rows(kind, 2)) if kind == "DELETED"
        ));
        assert_eq!(telemetry.decode_failures("*v1.Secret"), 1);
    }

    /// A client whose server answers every request with `status` and `body`, and the requests
    /// it got (URI and Accept).
    fn server(status: u16, body: impl Into<Bytes>) -> (Client, Arc<std::sync::Mutex<Vec<String>>>) {
        let body = body.into();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let accept = request.headers().get(header::ACCEPT).cloned();
            log.lock()
                .expect("lock")
                .push(format!("{} {accept:?}", request.uri()));
            let body = body.clone();
            async move { Response::builder().status(status).body(Full::new(body)) }
        });
        (Client::new(service, "default"), seen)
    }

    fn secrets(inner: Client) -> kube::Api<crate::watch::Lenient<Secret>> {
        let (shape, telemetry) = shape();
        kube::Api::namespaced_with(
            client::<Secret>(inner, shape.columns, &shape.label, telemetry),
            "ns",
            &(),
        )
    }

    #[tokio::test]
    async fn lists_ask_for_tables_of_metadata_and_get_objects() {
        let page = table(
            COLUMNS,
            &[row("a", "Opaque", "5")],
            r#"{"resourceVersion":"9"}"#,
        );
        let (answers, seen) = server(200, page);
        let list = secrets(answers)
            .list(&kube::api::ListParams::default().limit(5))
            .await
            .expect("a list");
        assert_eq!(list.items[0].object.type_.as_deref(), Some("Opaque"));
        assert_eq!(
            *seen.lock().expect("lock"),
            [format!(
                "/api/v1/namespaces/ns/secrets?&limit=5&includeObject=Metadata Some({TABLE:?})"
            )]
        );
    }

    #[tokio::test]
    async fn a_server_without_tables_fails_the_list_and_other_errors_pass() {
        // A list answered by a server that says `status` with `reason`.
        let list = |status: u16, reason: &str| {
            let (answers, _) = server(
                status,
                format!(
                    r#"{{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"{reason}","code":{status}}}"#
                ),
            );
            async move {
                secrets(answers)
                    .list(&kube::api::ListParams::default())
                    .await
                    .expect_err("an error")
            }
        };
        let error = list(406, "NotAcceptable").await;
        assert!(error.to_string().contains("406 Not Acceptable"), "{error}");
        let error = list(403, "Forbidden").await;
        assert!(matches!(error, kube::Error::Api(status) if status.code == 403));
    }
}
