//! The committed SDL in `schema/` is what the node serves; regenerate with
//! `cargo run -p cadena-gateway -- schema print > schema/node.graphql`.

#[test]
fn committed_sdl_matches_the_served_schema() {
    let committed = include_str!("../../schema/node.graphql");
    let served = cadena_resolvers::graphql::sdl();
    assert!(
        committed == served,
        "schema/node.graphql is out of date: run `cargo run -p cadena-gateway -- schema print > schema/node.graphql`"
    );
}
