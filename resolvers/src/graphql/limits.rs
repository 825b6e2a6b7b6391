//! Limits on what one GraphQL document may ask, checked right after parsing and before any
//! resolver runs, so a hostile query costs the node a parse and nothing more. Depth and
//! complexity are async-graphql's own checks; this adds aliases and total size.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Positioned, ServerError, ServerResult, Variables};

/// The numbers.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimitsConfig {
    /// Deepest selection nesting.
    pub max_depth: usize,
    /// Highest complexity (one per field by default).
    pub max_complexity: usize,
    /// Most aliased fields in one document: aliases are how one request multiplies work.
    pub max_aliases: usize,
    /// Most directives on one field.
    pub max_directives: usize,
    /// Longest document, in bytes.
    pub max_query_bytes: usize,
    /// Whether anonymous callers may introspect and read `_service { sdl }` (see
    /// [`super::introspection`]); off unless configured.
    pub anonymous_introspection: bool,
}

impl Default for QueryLimitsConfig {
    fn default() -> Self {
        QueryLimitsConfig {
            max_depth: 12,
            max_complexity: 1000,
            max_aliases: 30,
            max_directives: 8,
            max_query_bytes: 64 * 1024,
            anonymous_introspection: false,
        }
    }
}

/// The extension enforcing [`QueryLimitsConfig::max_aliases`] and `max_query_bytes`.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits(QueryLimitsConfig);

impl QueryLimits {
    /// With these limits.
    pub fn new(config: QueryLimitsConfig) -> Self {
        QueryLimits(config)
    }
}

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

fn count_aliases(set: &Positioned<SelectionSet>) -> usize {
    set.node
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + count_aliases(&field.node.selection_set)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

fn document_aliases(document: &ExecutableDocument) -> usize {
    let operations: usize = document.operations.iter().map(|(_, op)| count_aliases(&op.node.selection_set)).sum();
    let fragments: usize = document.fragments.values().map(|f| count_aliases(&f.node.selection_set)).sum();
    operations + fragments
}

#[async_graphql::async_trait::async_trait]
impl Extension for QueryLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > self.0.max_query_bytes {
            return Err(ServerError::new(
                format!("the query is {} bytes; the limit is {}", query.len(), self.0.max_query_bytes),
                None,
            ));
        }
        let document = next.run(ctx, query, variables).await?;
        let aliases = document_aliases(&document);
        if aliases > self.0.max_aliases {
            return Err(ServerError::new(
                format!("the query uses {aliases} aliases; the limit is {}", self.0.max_aliases),
                None,
            ));
        }
        Ok(document)
    }
}
