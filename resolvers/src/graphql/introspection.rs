//! Who may see the schema. Introspection (`__schema`, `__type`) and the federation SDL
//! (`_service { sdl }`) describe every operation a node has; whether anonymous callers may ask
//! for them is the node's choice ([`super::QueryLimitsConfig::anonymous_introspection`]): off in
//! a production config, on in `cadena dev` and tests (GraphiQL and the gateway read the schema).
//! Officers always may. The check runs right after parsing, for every transport alike.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, Pos, Positioned, ServerError, ServerResult, Variables};

use super::RequestPrincipal;

/// The root fields that reveal the schema.
const SCHEMA_FIELDS: [&str; 3] = ["__schema", "__type", "_service"];

/// The extension refusing [`SCHEMA_FIELDS`] to anonymous callers (when so configured).
#[derive(Clone, Copy, Debug)]
pub struct AnonymousIntrospection {
    /// Whether anonymous callers may introspect.
    pub allowed: bool,
}

impl ExtensionFactory for AnonymousIntrospection {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

/// The first field of `set` (fragments included) that reveals the schema, with its position.
fn schema_field(set: &Positioned<SelectionSet>) -> Option<(&str, Pos)> {
    set.node.items.iter().find_map(|item| match &item.node {
        Selection::Field(field) => {
            let name = field.node.name.node.as_str();
            SCHEMA_FIELDS
                .contains(&name)
                .then_some((name, field.pos))
                .or_else(|| schema_field(&field.node.selection_set))
        }
        Selection::InlineFragment(fragment) => schema_field(&fragment.node.selection_set),
        Selection::FragmentSpread(_) => None,
    })
}

fn document_schema_field(document: &ExecutableDocument) -> Option<(&str, Pos)> {
    document
        .operations
        .iter()
        .find_map(|(_, op)| schema_field(&op.node.selection_set))
        .or_else(|| document.fragments.values().find_map(|f| schema_field(&f.node.selection_set)))
}

#[async_graphql::async_trait::async_trait]
impl Extension for AnonymousIntrospection {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let anonymous = ctx.data_opt::<RequestPrincipal>().is_none_or(|p| p.0.is_none());
        if !self.allowed
            && anonymous
            && let Some((field, pos)) = document_schema_field(&document)
        {
            let mut error = ServerError::new(
                format!("{field} is not open to anonymous callers on this node: log in as an officer"),
                Some(pos),
            );
            let mut extensions = ErrorExtensionValues::default();
            extensions.set("code", "UNAUTHENTICATED");
            error.extensions = Some(extensions);
            return Err(error);
        }
        Ok(document)
    }
}
