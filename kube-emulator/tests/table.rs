//! meta.k8s.io/v1 Table responses as the apiserver sends them (handlers/response.go `asTable`,
//! handlers/watch.go): Secrets' printed columns, `includeObject`, paging, and Table watches —
//! column definitions on the first event only, bookmarks as one-row Tables, errors as Status.

mod common;

use std::time::Duration;

use common::Server;
use kube_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

fn secret(name: &str, ty: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": ty, "data": data,
           "metadata": {"name": name, "namespace": "ns", "labels": {"app": name}}})
}

/// Three Secrets with data, one also with stringData.
fn three_secrets(s: &Server) {
    s.emu
        .apply(secret("a", "Opaque", json!({"password": "c2VjcmV0"})))
        .unwrap();
    s.emu
        .apply(secret(
            "b",
            "kubernetes.io/tls",
            json!({"tls.crt": "Y3J0", "tls.key": "a2V5"}),
        ))
        .unwrap();
    let mut c = secret("c", "Opaque", json!({"x": "eA=="}));
    c["stringData"] = json!({"x": "y", "z": "plain"});
    s.emu.apply(c).unwrap();
}

fn column_names(table: &Value) -> Vec<&str> {
    table["columnDefinitions"]
        .as_array()
        .expect("column definitions")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default())
        .collect()
}

fn object_bodies(s: &Server, client: &str) -> u64 {
    s.emu.stats().get(client, "secrets").object_bodies
}

#[tokio::test]
async fn secret_tables_carry_the_printed_columns_and_metadata_but_no_data() {
    let s = Server::start(Emulator::new()).await;
    three_secrets(&s);
    let (code, t) = s
        .get_as("/api/v1/namespaces/ns/secrets", "reader", Some(TABLE))
        .await;
    assert_eq!(code, 200);
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(column_names(&t), ["Name", "Type", "Data", "Age"]);
    assert_eq!(t["columnDefinitions"][0]["format"], "name");
    assert_eq!(
        t["metadata"]["resourceVersion"],
        s.emu.resource_version().to_string()
    );
    let rows = t["rows"].as_array().expect("rows");
    let cells: Vec<&Value> = rows.iter().map(|r| &r["cells"]).collect();
    // DATA counts keys, stringData merged into data as the apiserver stores it.
    assert_eq!(
        cells[0].as_array().unwrap()[..3],
        [json!("a"), json!("Opaque"), json!(1)]
    );
    assert_eq!(
        cells[1].as_array().unwrap()[..3],
        [json!("b"), json!("kubernetes.io/tls"), json!(2)]
    );
    assert_eq!(
        cells[2].as_array().unwrap()[..3],
        [json!("c"), json!("Opaque"), json!(2)]
    );
    for row in rows {
        let object = &row["object"];
        assert_eq!(object["kind"], "PartialObjectMetadata");
        assert_eq!(object["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(object["metadata"]["namespace"], "ns");
        assert!(object["metadata"]["labels"]["app"].is_string());
        assert!(object.get("data").is_none() && object.get("type").is_none());
    }
    assert!(!t.to_string().contains("c2VjcmV0"), "no data value is sent");
    assert_eq!(object_bodies(&s, "reader"), 0);

    // A single object's Table carries its resourceVersion.
    let (_, one) = s
        .get_as("/api/v1/namespaces/ns/secrets/b", "reader", Some(TABLE))
        .await;
    assert_eq!(one["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        one["metadata"]["resourceVersion"],
        one["rows"][0]["object"]["metadata"]["resourceVersion"]
    );
    assert_eq!(object_bodies(&s, "reader"), 0);

    // The full list sends every Secret whole, and is counted so.
    let (_, full) = s.get_as("/api/v1/secrets", "full", None).await;
    assert_eq!(full["items"][0]["data"]["password"], "c2VjcmV0");
    assert_eq!(object_bodies(&s, "full"), 3);
}

#[tokio::test]
async fn include_object_selects_what_rows_carry() {
    let s = Server::start(Emulator::new()).await;
    three_secrets(&s);
    let (_, t) = s
        .get_as("/api/v1/secrets?includeObject=Object", "whole", Some(TABLE))
        .await;
    assert_eq!(t["rows"][0]["object"]["kind"], "Secret");
    assert_eq!(t["rows"][0]["object"]["apiVersion"], "v1");
    assert_eq!(t["rows"][0]["object"]["data"]["password"], "c2VjcmV0");
    assert_eq!(object_bodies(&s, "whole"), 3);

    let (_, t) = s
        .get_as("/api/v1/secrets?includeObject=None", "none", Some(TABLE))
        .await;
    let rows = t["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["object"].is_null()));
    let (_, t) = s
        .get_as(
            "/api/v1/secrets?includeObject=Metadata",
            "none",
            Some(TABLE),
        )
        .await;
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(object_bodies(&s, "none"), 0);

    let (code, status) = s
        .get_as(
            "/api/v1/secrets?includeObject=Everything",
            "none",
            Some(TABLE),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        "Unable to convert to Table as requested: includeObject: Invalid value: \"Everything\": must be 'Metadata', 'Object', 'None', or empty"
    );
    // Only a Table conversion reads the parameter.
    let (code, _) = s.get("/api/v1/secrets?includeObject=Everything").await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn table_lists_page_with_continue_tokens() {
    let s = Server::start(Emulator::new()).await;
    three_secrets(&s);
    let (_, first) = s
        .get_as("/api/v1/secrets?limit=2", "pager", Some(TABLE))
        .await;
    assert_eq!(first["rows"].as_array().map(Vec::len), Some(2));
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("continue token");
    let (code, rest) = s
        .get_as(
            &format!("/api/v1/secrets?limit=2&continue={token}"),
            "pager",
            Some(TABLE),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(rest["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["rows"][0]["cells"][0], "c");
    assert!(rest["metadata"].get("continue").is_none());
    assert_eq!(column_names(&rest), ["Name", "Type", "Data", "Age"]);
    assert_eq!(
        rest["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
}

#[tokio::test]
async fn table_watches_send_headers_once_and_bookmarks_as_one_row_tables() {
    let s = Server::with_config(EmulatorConfig {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    three_secrets(&s);
    let mut w = s
        .watch_as(
            "/api/v1/secrets?watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
            "watcher",
            Some(TABLE),
        )
        .await;
    assert_eq!(w.status, 200);
    let first = w.next().await;
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["kind"], "Table");
    assert_eq!(
        column_names(&first["object"]),
        ["Name", "Type", "Data", "Age"]
    );
    assert_eq!(first["object"]["rows"][0]["cells"][1], "Opaque");
    for _ in 0..2 {
        let e = w.next().await;
        assert_eq!(e["type"], "ADDED");
        assert!(e["object"]["columnDefinitions"].is_null(), "{e}");
        assert_eq!(e["object"]["rows"].as_array().map(Vec::len), Some(1));
    }
    // The initial-events-end bookmark: its annotation is in the row's object, its
    // resourceVersion in both the Table's and the row's metadata.
    let end = w.next().await;
    assert_eq!(end["type"], "BOOKMARK");
    let table = &end["object"];
    assert_eq!(table["kind"], "Table");
    assert!(table["columnDefinitions"].is_null());
    let rv = s.emu.resource_version().to_string();
    assert_eq!(table["metadata"]["resourceVersion"], rv);
    assert_eq!(table["rows"][0]["cells"], json!(["", "", 0, "<unknown>"]));
    let partial = &table["rows"][0]["object"];
    assert_eq!(partial["kind"], "PartialObjectMetadata");
    assert_eq!(partial["metadata"]["resourceVersion"], rv);
    assert_eq!(
        partial["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );

    s.emu
        .apply(secret("a", "Opaque", json!({"password": "bmV3"})))
        .unwrap();
    let modified = w.next_non_bookmark().await;
    assert_eq!(modified["type"], "MODIFIED");
    let row = &modified["object"]["rows"][0];
    assert_eq!(row["cells"][0], "a");
    assert_eq!(
        modified["object"]["metadata"]["resourceVersion"],
        row["object"]["metadata"]["resourceVersion"]
    );
    s.emu.delete("secrets", Some("ns"), "b").unwrap().unwrap();
    let deleted = w.next_non_bookmark().await;
    assert_eq!(deleted["type"], "DELETED");
    assert_eq!(deleted["object"]["rows"][0]["cells"][0], "b");
    // A periodic bookmark has no annotation.
    let periodic = w.next().await;
    assert_eq!(periodic["type"], "BOOKMARK");
    assert!(
        periodic["object"]["rows"][0]["object"]["metadata"]
            .get("annotations")
            .is_none()
    );
    assert_eq!(object_bodies(&s, "watcher"), 0);
    assert!(s.emu.stats().get("watcher", "secrets").watch_events >= 7);
}

#[tokio::test]
async fn table_watch_errors_are_plain_status_objects() {
    let s = Server::start(Emulator::new()).await;
    three_secrets(&s);
    let old = s.emu.resource_version() - 1;
    s.emu.compact();
    let mut w = s
        .watch_as(
            &format!("/api/v1/secrets?watch=true&resourceVersion={old}"),
            "watcher",
            Some(TABLE),
        )
        .await;
    let e = w.next().await;
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["kind"], "Status");
    assert_eq!(e["object"]["code"], 410);
}
