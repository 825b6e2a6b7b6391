//! The smallest reproductions of what `@theguild/federation-composition` (the composer
//! `cadena gateway` runs by default) gets wrong, each asserting today's behaviour: when a
//! composer update fixes one, its test fails, and the note here and the workaround can go.
//! The workaround: compose with another composer (Apollo's `rover`, Hive's registry) and start
//! the gateway from the file (`supergraph_file`). cadena's own subgraph uses none of these
//! shapes.

use std::collections::HashMap;

use super::{Engine, Subgraph, compose};

const LINK: &str = r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@external", "@requires", "@shareable", "@interfaceObject"])"#;

fn subgraph(name: &str, sdl: &str) -> Subgraph {
    Subgraph { name: name.into(), url: format!("http://127.0.0.1:1/{name}"), sdl: format!("{LINK}\n{sdl}") }
}

/// Reported: `@requires` selecting through inline fragments (valid Federation 2 since 2.1)
/// does not compose. Not reproduced in its smallest shape, through an interface's members:
/// it composes, the requirement is recorded whole, and the gateway plans a query needing it
/// (the fetch then fails, nothing listening). Kept as a guard for the composer's next versions.
#[tokio::test]
async fn requires_with_inline_fragments_composes_and_plans() {
    let shapes = subgraph(
        "shapes",
        r#"type Query { item: Item }
           type Item @key(fields: "id") { id: ID! shape: Shape }
           interface Shape { kind: String }
           type Circle implements Shape @shareable { kind: String radius: Float }
           type Square implements Shape @shareable { kind: String side: Float }"#,
    );
    let areas = subgraph(
        "areas",
        r#"type Item @key(fields: "id") {
             id: ID!
             shape: Shape @external
             area: Float @requires(fields: "shape { ... on Circle { radius } ... on Square { side } }")
           }
           interface Shape { kind: String }
           type Circle implements Shape @shareable { kind: String radius: Float }
           type Square implements Shape @shareable { kind: String side: Float }"#,
    );
    let supergraph = compose(&[shapes, areas]).await.expect("composes");
    assert!(supergraph.contains(r#"requires: "shape{...on Circle{radius}...on Square{side}}""#), "{supergraph}");
    let engine = Engine::new(&supergraph, HashMap::new()).expect("builds");
    let request = super::GraphQLRequest {
        query: "{ item { area } }".into(),
        operation_name: None,
        variables: serde_json::Value::Null,
    };
    let body = engine.execute(request, http::HeaderMap::new()).await.expect("plans").to_value();
    assert_eq!(body["errors"][0]["extensions"]["service"], "shapes", "the first fetch is planned: {body}");
}

/// A `@shareable` field typed by a union in one subgraph and by one of its members in another
/// should be typed by the union in the API schema (what either subgraph may return); the
/// composer types it by the member.
#[tokio::test]
async fn a_field_typed_by_a_union_and_its_member_takes_the_member() {
    let pets = subgraph(
        "pets",
        r#"type Query { pet: Animal @shareable }
           union Animal = Dog | Cat
           type Dog @shareable { name: String }
           type Cat @shareable { name: String }"#,
    );
    let dogs = subgraph(
        "dogs",
        r#"type Query { pet: Dog @shareable }
           type Dog @shareable { name: String }"#,
    );
    let supergraph = compose(&[pets, dogs]).await.expect("composes");
    let api = Engine::new(&supergraph, HashMap::new()).expect("plans").api_schema_sdl();
    assert!(api.contains("pet: Dog"), "typed by the union now: {api}");
}

/// A field an `@interfaceObject` marks `@external` (to `@require` it) belongs to the subgraph
/// of the interface; the supergraph must keep the marking, or the gateway asks the
/// `@interfaceObject` subgraph for it.
#[tokio::test]
async fn an_interface_object_field_marked_external_loses_the_marking() {
    let media = subgraph(
        "media",
        r#"type Query { media: [Media] }
           interface Media @key(fields: "id") { id: ID! title: String }
           type Book implements Media @key(fields: "id") { id: ID! title: String }"#,
    );
    let summaries = subgraph(
        "summaries",
        r#"type Media @key(fields: "id") @interfaceObject {
             id: ID!
             title: String @external
             summary: String @requires(fields: "title")
           }"#,
    );
    let supergraph = compose(&[media, summaries]).await.expect("composes");
    let title = supergraph
        .lines()
        .skip_while(|l| !l.contains("interface Media"))
        .find(|l| l.trim_start().starts_with("title"))
        .unwrap_or_default()
        .to_owned();
    // Today: no `@join__field` at all, so every graph defining Media may resolve it.
    assert_eq!(title.trim(), "title: String", "the marking is kept now: {supergraph}");
}
