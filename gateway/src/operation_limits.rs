//! Depth, alias and cost limits on a client's operation, measured against the supergraph's API
//! schema before anything is planned or sent to a subgraph.
//!
//! Cost is what the operation may make the subgraphs resolve: every field selected counts once
//! for each object it may be resolved on. A list field multiplies what it selects by its page
//! size: its `first`, `last` or `limit` argument (a literal, or the variable's value in this
//! request), else `assumed_list_size`. A paginated connection (a field with such an argument
//! returning an object) multiplies its subtree by the page size once, so its `nodes` or
//! `edges` list does not multiply again. `{ certifications(first: 100) { nodes { id tin } } }`
//! costs 1 + 100 + 2 × 100 = 301.

use std::collections::HashMap;

use async_graphql::Name;
use async_graphql::Positioned;
use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, Field, FragmentDefinition, OperationType, Selection,
    SelectionSet, ServiceDocument, Type, TypeKind, TypeSystemDefinition,
};
use serde_json::Value;

/// The arguments that set a list field's page size.
const PAGE_SIZE_ARGUMENTS: [&str; 3] = ["first", "last", "limit"];

/// The limits an operation is held to.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Deepest selection nesting.
    pub max_depth: usize,
    /// Most aliases.
    pub max_aliases: usize,
    /// Highest cost.
    pub max_cost: u64,
    /// The page size assumed for a list field without a page-size argument.
    pub assumed_list_size: u64,
}

/// Why an operation is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The document does not parse: nothing can be measured.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// It exceeds a limit; the message says which, by how much.
    #[error("{0}")]
    OverLimit(String),
}

/// An operation within the limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    /// Its cost.
    pub cost: u64,
    /// Its cost depends on variables (a page size given by a variable): another request with
    /// the same text must be measured again.
    pub depends_on_variables: bool,
}

/// What the cost model needs of a field of the schema.
#[derive(Clone, Debug)]
struct FieldShape {
    /// Its named type, lists and non-null unwrapped.
    type_name: String,
    /// It returns a list.
    list: bool,
    /// It takes a page-size argument.
    paginated: bool,
}

/// The schema's object and interface types, field by field, and its root types.
#[derive(Clone, Debug)]
pub struct OperationLimits {
    limits: Limits,
    fields: HashMap<String, HashMap<String, FieldShape>>,
    roots: [String; 3],
}

impl OperationLimits {
    /// The limits over the API schema `api_schema_sdl`.
    pub fn new(api_schema_sdl: &str, limits: Limits) -> Result<OperationLimits, String> {
        let document: ServiceDocument = async_graphql::parser::parse_schema(api_schema_sdl)
            .map_err(|e| format!("the API schema does not parse: {e}"))?;
        let mut roots = ["Query".to_owned(), "Mutation".to_owned(), "Subscription".to_owned()];
        let mut fields: HashMap<String, HashMap<String, FieldShape>> = HashMap::new();
        for definition in &document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = &schema.node;
                    for (root, name) in roots.iter_mut().zip([&schema.query, &schema.mutation, &schema.subscription]) {
                        if let Some(name) = name {
                            *root = name.node.to_string();
                        }
                    }
                }
                TypeSystemDefinition::Type(definition) => {
                    let definition = &definition.node;
                    let defined = match &definition.kind {
                        TypeKind::Object(object) => &object.fields,
                        TypeKind::Interface(interface) => &interface.fields,
                        _ => continue,
                    };
                    let shapes = fields.entry(definition.name.node.to_string()).or_default();
                    for field in defined {
                        let field = &field.node;
                        let (type_name, list) = unwrap_type(&field.ty.node);
                        let paginated =
                            field.arguments.iter().any(|a| PAGE_SIZE_ARGUMENTS.contains(&a.node.name.node.as_str()));
                        shapes.insert(field.name.node.to_string(), FieldShape { type_name, list, paginated });
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        Ok(OperationLimits { limits, fields, roots })
    }

    /// Admits `query` (its operation `operation_name`, or every operation when unnamed) with
    /// `variables`, or says which limit it exceeds.
    pub fn check(&self, query: &str, operation_name: Option<&str>, variables: &Value) -> Result<Admission, Refusal> {
        self.check_costing(query, operation_name, variables, self.limits.max_cost)
    }

    /// As [`OperationLimits::check`], for a trusted document: its cost was accepted when it was
    /// reviewed, so only depth and aliases are held to the limits.
    pub fn check_trusted(
        &self,
        query: &str,
        operation_name: Option<&str>,
        variables: &Value,
    ) -> Result<Admission, Refusal> {
        self.check_costing(query, operation_name, variables, u64::MAX)
    }

    fn check_costing(
        &self,
        query: &str,
        operation_name: Option<&str>,
        variables: &Value,
        max_cost: u64,
    ) -> Result<Admission, Refusal> {
        let document = async_graphql::parser::parse_query(query).map_err(|e| Refusal::Syntax(e.to_string()))?;
        let mut measure = Measure {
            model: self,
            document: &document,
            variables,
            depth: 0,
            aliases: 0,
            cost: 0,
            depends_on_variables: false,
        };
        for (name, operation) in operations(&document) {
            if operation_name.is_some_and(|wanted| name.is_some_and(|n| n.as_str() != wanted)) {
                continue;
            }
            let root = match operation.node.ty {
                OperationType::Query => &self.roots[0],
                OperationType::Mutation => &self.roots[1],
                OperationType::Subscription => &self.roots[2],
            };
            measure.selection_set(&operation.node.selection_set.node, Some(root), 1, false, 1, &mut Vec::new());
        }
        let limits = &self.limits;
        if measure.depth > limits.max_depth {
            return Err(Refusal::OverLimit(format!(
                "the operation is {} levels deep; at most {} are allowed",
                measure.depth, limits.max_depth
            )));
        }
        if measure.aliases > limits.max_aliases {
            return Err(Refusal::OverLimit(format!(
                "the operation uses {} aliases; at most {} are allowed",
                measure.aliases, limits.max_aliases
            )));
        }
        if measure.cost > max_cost {
            return Err(Refusal::OverLimit(format!(
                "the operation costs {}; at most {max_cost} is allowed (a trusted document is not held to it)",
                measure.cost
            )));
        }
        Ok(Admission { cost: measure.cost, depends_on_variables: measure.depends_on_variables })
    }
}

fn operations(
    document: &ExecutableDocument,
) -> Vec<(Option<&Name>, &Positioned<async_graphql::parser::types::OperationDefinition>)> {
    match &document.operations {
        DocumentOperations::Single(operation) => vec![(None, operation)],
        DocumentOperations::Multiple(operations) => operations.iter().map(|(n, o)| (Some(n), o)).collect(),
    }
}

/// `[[Operator!]]!` → (`Operator`, a list).
fn unwrap_type(ty: &Type) -> (String, bool) {
    match &ty.base {
        BaseType::Named(name) => (name.to_string(), false),
        BaseType::List(inner) => (unwrap_type(inner).0, true),
    }
}

/// Depth, aliases and cost of an operation, fragments expanded (each at most once per path, so
/// a fragment cycle cannot loop).
struct Measure<'a> {
    model: &'a OperationLimits,
    document: &'a ExecutableDocument,
    variables: &'a Value,
    depth: usize,
    aliases: usize,
    cost: u64,
    depends_on_variables: bool,
}

impl Measure<'_> {
    /// Measures `set`, selected on `parent` (`None` when unknown: the field is not in the
    /// schema, and validation will refuse it), each field resolved `multiplier` times.
    /// `in_page`: `set` is a paginated connection's, whose lists are its page.
    fn selection_set(
        &mut self,
        set: &SelectionSet,
        parent: Option<&str>,
        multiplier: u64,
        in_page: bool,
        depth: usize,
        visiting: &mut Vec<String>,
    ) {
        self.depth = self.depth.max(depth);
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if field.alias.is_some() {
                        self.aliases += 1;
                    }
                    self.cost = self.cost.saturating_add(multiplier);
                    if field.selection_set.node.items.is_empty() {
                        continue;
                    }
                    // Borrowed from the model, not from `self`: `page_size` below needs `self`.
                    let model = self.model;
                    let shape = parent
                        .and_then(|p| model.fields.get(p))
                        .and_then(|fields| fields.get(field.name.node.as_str()));
                    let (child_type, factor, child_in_page) = match shape {
                        Some(shape) if shape.paginated => (Some(&shape.type_name), self.page_size(field), !shape.list),
                        Some(shape) if shape.list && !in_page => {
                            (Some(&shape.type_name), model.limits.assumed_list_size, false)
                        }
                        Some(shape) => (Some(&shape.type_name), 1, false),
                        // Unknown: count it as a list, pessimistically.
                        None => (None, model.limits.assumed_list_size, false),
                    };
                    self.selection_set(
                        &field.selection_set.node,
                        child_type.map(String::as_str),
                        multiplier.saturating_mul(factor),
                        child_in_page,
                        depth + 1,
                        visiting,
                    );
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let on = inline.type_condition.as_ref().map(|c| c.node.on.node.as_str()).or(parent);
                    self.selection_set(&inline.selection_set.node, on, multiplier, in_page, depth, visiting)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.to_string();
                    if visiting.contains(&name) {
                        continue;
                    }
                    let fragments: &HashMap<Name, Positioned<FragmentDefinition>> = &self.document.fragments;
                    if let Some(fragment) = fragments.get(spread.node.fragment_name.node.as_str()) {
                        let fragment = &fragment.node;
                        visiting.push(name);
                        let on = fragment.type_condition.node.on.node.to_string();
                        self.selection_set(
                            &fragment.selection_set.node,
                            Some(&on),
                            multiplier,
                            in_page,
                            depth,
                            visiting,
                        );
                        visiting.pop();
                    }
                }
            }
        }
    }

    /// A paginated field's page size: its page-size argument, a literal or a variable's value
    /// in this request, else the assumed list size.
    fn page_size(&mut self, field: &Field) -> u64 {
        let assumed = self.model.limits.assumed_list_size;
        let Some(value) = PAGE_SIZE_ARGUMENTS.iter().find_map(|name| field.get_argument(name)) else {
            return assumed;
        };
        let mut depends_on_variables = false;
        let value = value.node.clone().into_const_with(|variable| {
            depends_on_variables = true;
            Ok::<_, std::convert::Infallible>(
                self.variables
                    .get(variable.as_str())
                    .and_then(|v| async_graphql::Value::from_json(v.clone()).ok())
                    .unwrap_or(async_graphql::Value::Null),
            )
        });
        self.depends_on_variables |= depends_on_variables;
        match value {
            Ok(async_graphql::Value::Number(n)) => n.as_u64().unwrap_or(assumed),
            _ => assumed,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SCHEMA: &str = r#"
        schema { query: Query subscription: Subscription }
        type Query {
            certifications(first: Int, after: String): CertificationConnection!
            operator(country: String!, tin: String!): Operator
            search: [Operator!]!
        }
        type Subscription { certificationEvents: CertificationEvent! }
        type CertificationEvent { certification: Certification! }
        type CertificationConnection { nodes: [Certification!]! edges: [Edge!]! totalCount: Int! }
        type Edge { node: Certification! cursor: String! }
        type Certification { id: ID! tin: String! operator: Operator! }
        type Operator { name: String! recognition: [Recognition!]! certifications: [Certification!]! }
        type Recognition { country: String! status: String! }
    "#;

    fn limits() -> OperationLimits {
        OperationLimits::new(SCHEMA, Limits { max_depth: 6, max_aliases: 3, max_cost: 1_000, assumed_list_size: 10 })
            .expect("the schema parses")
    }

    fn cost(query: &str, variables: Value) -> Result<Admission, String> {
        limits().check(query, None, &variables).map_err(|refusal| refusal.to_string())
    }

    #[test]
    fn a_connection_multiplies_its_page_once() {
        // 1 + 100 (nodes) + 2 × 100 = 301: admitted; first: 400 costs 1 + 400 + 800 = 1201.
        assert_eq!(cost("{ certifications(first: 100) { nodes { id tin } } }", Value::Null).unwrap().cost, 301);
        let edges = "{ certifications(first: 100) { edges { cursor node { id } } } }";
        assert_eq!(cost(edges, Value::Null).unwrap().cost, 1 + 100 + 3 * 100);
        let refused = cost("{ certifications(first: 400) { nodes { id tin } } }", Value::Null).unwrap_err();
        assert_eq!(refused, "the operation costs 1201; at most 1000 is allowed (a trusted document is not held to it)");
    }

    /// The Guild's federation benchmark operation over its accounts, products, reviews and
    /// inventory subgraphs: nested unbounded lists, each assumed to hold 10, make it cost
    /// 102,927, beyond any default a gateway open to unknown clients should grant; trusted, it
    /// is held to depth and aliases only.
    #[test]
    fn a_trusted_document_is_held_to_depth_and_aliases_only() {
        const SCHEMA: &str = r#"
            type Query { me: User users: [User] topProducts(first: Int): [Product] }
            type User { id: ID! name: String username: String reviews: [Review] }
            type Review { id: ID! body: String author: User product: Product }
            type Product { upc: String! name: String price: Int weight: Int inStock: Boolean shippingEstimate: Int reviews: [Review] }
        "#;
        const BENCHMARK: &str = r#"
            fragment User on User { id username name }
            fragment Review on Review { id body }
            fragment Product on Product { inStock name price shippingEstimate upc weight }
            query TestQuery {
              users { ...User reviews { ...Review product { ...Product reviews { ...Review author { ...User reviews { ...Review product { ...Product } } } } } } }
              topProducts(first: 5) { ...Product reviews { ...Review author { ...User reviews { ...Review product { ...Product } } } } }
            }"#;
        let limits = OperationLimits::new(
            SCHEMA,
            Limits { max_depth: 12, max_aliases: 30, max_cost: 25_000, assumed_list_size: 10 },
        )
        .unwrap();
        let refused = limits.check(BENCHMARK, None, &Value::Null).unwrap_err().to_string();
        assert!(refused.starts_with("the operation costs 102927;"), "{refused}");
        assert_eq!(limits.check_trusted(BENCHMARK, None, &Value::Null).unwrap().cost, 102_927);
        let deep = "{ users { reviews { author { reviews { author { reviews { author { reviews { author { reviews { author { reviews { author { reviews { author { id } } } } } } } } } } } } } } } }";
        let refused = limits.check_trusted(deep, None, &Value::Null).unwrap_err().to_string();
        assert!(refused.contains("levels deep"), "{refused}");
    }

    #[test]
    fn nested_lists_multiply() {
        // search (1) + 10 × (name + recognition) + 10 × 10 × 2 = 221.
        assert_eq!(cost("{ search { name recognition { country status } } }", Value::Null).unwrap().cost, 221);
        // One more list: 1 + 10 × 2 + 100 × 2 (id, operator) + 100 (recognition) + 1000 (country).
        let refused =
            cost("{ search { name certifications { id operator { recognition { country } } } } }", Value::Null)
                .unwrap_err();
        assert!(refused.contains("costs 1321"), "{refused}");
    }

    #[test]
    fn a_page_size_variable_counts_at_its_value_and_marks_the_admission() {
        let query = "query($n: Int) { certifications(first: $n) { nodes { id tin } } }";
        let admitted = cost(query, json!({ "n": 10 })).unwrap();
        assert!(admitted.depends_on_variables);
        assert_eq!(admitted.cost, 31);
        assert!(cost(query, json!({ "n": 400 })).unwrap_err().contains("costs 1201"));
        // Absent: the assumed size.
        assert_eq!(cost(query, json!({})).unwrap().cost, 31);
        assert!(!cost("{ certifications(first: 5) { totalCount } }", Value::Null).unwrap().depends_on_variables);
    }

    #[test]
    fn fragments_are_measured_on_their_type_and_cycles_end() {
        let query = "{ search { ...o } } fragment o on Operator { certifications { id ...c } } \
                     fragment c on Certification { operator { ...o } }";
        // The cycle is cut where `o` reappears: search 1, certifications 10, id and operator 100
        // each (certifications is a list inside the search list).
        assert_eq!(cost(query, Value::Null).unwrap().cost, 1 + 10 + 100 + 100);
        let inline = "{ search { ... on Operator { recognition { status } } } }";
        assert_eq!(cost(inline, Value::Null).unwrap().cost, 1 + 10 + 100);
    }

    #[test]
    fn depth_and_aliases_are_limited() {
        let deep =
            "{ search { certifications { operator { certifications { operator { certifications { id } } } } } } }";
        assert!(cost(deep, Value::Null).unwrap_err().contains("levels deep"));
        let aliased = "{ a: search { name } b: search { name } c: search { name } d: search { name } }";
        assert_eq!(
            limits().check(aliased, None, &Value::Null).unwrap_err(),
            Refusal::OverLimit("the operation uses 4 aliases; at most 3 are allowed".into())
        );
    }

    #[test]
    fn only_the_named_operation_is_measured() {
        let document = "query Cheap { certifications(first: 1) { totalCount } } \
                        query Dear { certifications(first: 500) { nodes { id tin } } }";
        assert!(limits().check(document, Some("Cheap"), &Value::Null).is_ok());
        assert!(limits().check(document, Some("Dear"), &Value::Null).is_err());
    }

    #[test]
    fn subscriptions_are_measured_from_their_root() {
        let subscription = "subscription { certificationEvents { certification { id } } }";
        assert_eq!(cost(subscription, Value::Null).unwrap().cost, 3);
    }

    #[test]
    fn a_syntax_error_is_reported() {
        let refusal = limits().check("{ search { ", None, &Value::Null).unwrap_err();
        assert!(matches!(refusal, Refusal::Syntax(_)), "{refusal:?}");
    }
}
