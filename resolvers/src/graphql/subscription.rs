//! Root `Subscription`: certification events as they commit.

use async_graphql::{Context, Result, Subscription as SubscriptionDerive};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::types::{CertificationEventFilter, CertificationEventObject};
use super::{principal, services};
use crate::auth::Operation;
use crate::auth::roles::authorize;
use crate::errors::GqlResult;

/// Root subscription type.
#[derive(Debug, Default)]
pub struct Subscription;

#[SubscriptionDerive]
impl Subscription {
    /// Every transition of this node's certifications that matches `filter`, from now on, in
    /// commit order. A subscriber that falls too far behind receives an error and the stream
    /// ends; it should re-read `certificationHistory` and subscribe again.
    async fn certification_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<CertificationEventFilter>,
    ) -> Result<impl Stream<Item = Result<CertificationEventObject>>> {
        authorize(principal(ctx), Operation::SubscribeEvents).gql()?;
        let filter = filter.unwrap_or_default();
        let mut receiver = services(ctx).certifications.bus().subscribe();
        Ok(async_stream::stream! {
            loop {
                match receiver.recv().await {
                    Ok(event) if filter.matches(&event) => yield Ok(CertificationEventObject(event)),
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        yield Err(async_graphql::Error::new(format!(
                            "this subscriber fell {missed} events behind and was cut off; re-read certificationHistory and subscribe again"
                        )));
                        break;
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
