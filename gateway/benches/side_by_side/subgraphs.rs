//! The four subgraphs of The Guild's federation gateway benchmark (accounts, products,
//! inventory, reviews), in async-graphql, with fixed data: the same shapes its gateways are
//! compared on (`@key` entities across all four, `@requires` in inventory).

use async_graphql::{
    ComplexObject, EmptyMutation, EmptySubscription, ID, Object, ObjectType, SDLExportOptions, Schema, SimpleObject,
};

const USERS: usize = 5;
const PRODUCTS: usize = 5;
const REVIEWS_PER_PRODUCT: usize = 2;

fn user(i: usize) -> User {
    User { id: ID(i.to_string()), name: format!("User {i}"), username: format!("user{i}") }
}

fn product(i: usize) -> Product {
    Product {
        upc: i.to_string(),
        name: format!("Product {i}"),
        price: Some(100 * i as i32 + 99),
        weight: Some(10 + i as i32),
    }
}

/// Every review: product `i` has reviews `i * REVIEWS_PER_PRODUCT ..`, authored in turn.
fn reviews() -> impl Iterator<Item = Review> {
    (0..PRODUCTS * REVIEWS_PER_PRODUCT).map(|r| Review {
        id: ID(r.to_string()),
        body: format!("Review {r}: as described."),
        author: ReviewUser { id: ID((r % USERS).to_string()) },
        product: ReviewProduct { upc: (r / REVIEWS_PER_PRODUCT).to_string() },
    })
}

// accounts

#[derive(SimpleObject, Clone)]
struct User {
    id: ID,
    name: String,
    username: String,
}

struct AccountsQuery;

#[Object(name = "Query")]
impl AccountsQuery {
    async fn me(&self) -> User {
        user(0)
    }
    async fn users(&self) -> Vec<User> {
        (0..USERS).map(user).collect()
    }
    #[graphql(entity)]
    async fn find_user(&self, id: ID) -> User {
        user(id.parse().unwrap_or(0))
    }
}

// products

#[derive(SimpleObject, Clone)]
struct Product {
    upc: String,
    name: String,
    price: Option<i32>,
    weight: Option<i32>,
}

struct ProductsQuery;

#[Object(name = "Query")]
impl ProductsQuery {
    async fn top_products(&self, #[graphql(default = 5)] first: i32) -> Vec<Product> {
        (0..PRODUCTS.min(first.max(0) as usize)).map(product).collect()
    }
    #[graphql(entity)]
    async fn find_product(&self, upc: String) -> Product {
        product(upc.parse().unwrap_or(0))
    }
}

// inventory

#[derive(SimpleObject)]
#[graphql(name = "Product", complex)]
struct StockedProduct {
    upc: String,
    #[graphql(external)]
    price: Option<i32>,
    #[graphql(external)]
    weight: Option<i32>,
    in_stock: bool,
}

#[ComplexObject]
impl StockedProduct {
    /// Free over 1000, else half the weight: needs price and weight from products.
    #[graphql(requires = "price weight")]
    async fn shipping_estimate(&self) -> Option<i32> {
        let (price, weight) = (self.price?, self.weight?);
        Some(if price > 1000 { 0 } else { weight / 2 })
    }
}

struct InventoryQuery;

#[Object(name = "Query")]
impl InventoryQuery {
    /// (A subgraph's `Query` cannot be empty.)
    async fn inventory_version(&self) -> &'static str {
        "1"
    }
    #[graphql(entity)]
    async fn find_stocked_product(
        &self,
        #[graphql(key)] upc: String,
        price: Option<i32>,
        weight: Option<i32>,
    ) -> StockedProduct {
        let in_stock = upc.parse::<usize>().is_ok_and(|i| i % 3 != 0);
        StockedProduct { upc, price, weight, in_stock }
    }
}

// reviews

#[derive(SimpleObject, Clone)]
struct Review {
    id: ID,
    body: String,
    author: ReviewUser,
    product: ReviewProduct,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "User", complex)]
struct ReviewUser {
    id: ID,
}

#[ComplexObject]
impl ReviewUser {
    async fn reviews(&self) -> Vec<Review> {
        reviews().filter(|r| r.author.id == self.id).collect()
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "Product", complex)]
struct ReviewProduct {
    upc: String,
}

#[ComplexObject]
impl ReviewProduct {
    async fn reviews(&self) -> Vec<Review> {
        reviews().filter(|r| r.product.upc == self.upc).collect()
    }
}

struct ReviewsQuery;

#[Object(name = "Query")]
impl ReviewsQuery {
    /// (A subgraph's `Query` cannot be empty.)
    async fn review_count(&self) -> i32 {
        (PRODUCTS * REVIEWS_PER_PRODUCT) as i32
    }
    #[graphql(entity)]
    async fn find_review_user(&self, id: ID) -> ReviewUser {
        ReviewUser { id }
    }
    #[graphql(entity)]
    async fn find_review_product(&self, upc: String) -> ReviewProduct {
        ReviewProduct { upc }
    }
}

/// A served subgraph: its name, URL and federation SDL.
pub struct Served {
    pub name: &'static str,
    pub url: String,
    pub sdl: String,
}

async fn serve<Q: ObjectType + 'static>(name: &'static str, query: Q) -> Served {
    let schema = Schema::build(query, EmptyMutation, EmptySubscription).enable_federation().finish();
    let sdl = schema.sdl_with_options(SDLExportOptions::new().federation());
    let app = axum::Router::new().route(
        "/graphql",
        axum::routing::post(move |axum::Json(request): axum::Json<async_graphql::Request>| {
            let schema = schema.clone();
            async move { axum::Json(schema.execute(request).await) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}/graphql", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the subgraph serves") });
    Served { name, url, sdl }
}

/// Serves the four subgraphs on free ports.
pub async fn serve_all() -> Vec<Served> {
    vec![
        serve("accounts", AccountsQuery).await,
        serve("products", ProductsQuery).await,
        serve("inventory", InventoryQuery).await,
        serve("reviews", ReviewsQuery).await,
    ]
}
