//! Root `Subscription`: certification events as they commit, resumable by cursor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::{Context, ID, Result, Subscription as SubscriptionDerive};
use futures::{Stream, StreamExt};

use super::types::{CertificationEventFilter, CertificationEventObject};
use super::watch::RecognitionChangeObject;
use super::{principal, services};
use crate::auth::Operation;
use crate::auth::roles::authorize;
use crate::errors::{GqlResult, ServiceError};
use crate::events::CertificationEvent;
use crate::services::recognition_webhooks::RecognitionChange;

/// Root subscription type.
#[derive(Debug, Default)]
pub struct Subscription;

/// Where a transport asks a subscription to resume when the client did not say `after` (SSE's
/// `Last-Event-ID`).
#[derive(Clone, Copy, Debug)]
pub struct ResumeAfter(pub u64);

/// The cursor of the event a subscription yielded last, for transports that label each message
/// with it (SSE's `id:`). The subscription sets it before yielding each event.
#[derive(Clone, Debug, Default)]
pub struct LastCursor(pub Arc<AtomicU64>);

fn parse_cursor(after: &ID) -> Result<u64, ServiceError> {
    after
        .parse::<u64>()
        .map_err(|_| ServiceError::field("after", format!("{:?} is not an event cursor", after.as_str())))
}

/// The event log from where a subscription starts: after `after` (or the transport's
/// `Last-Event-ID`), or after the newest event committed now (an event that committed before
/// the subscription never reaches it, even if this process's log reader publishes it later).
/// Then listening, and one read of the log for anything that committed in between.
async fn follow_log(
    ctx: &Context<'_>,
    after: Option<ID>,
) -> Result<impl Stream<Item = Result<Arc<CertificationEvent>, ServiceError>> + use<>> {
    let after = match after {
        Some(after) => Some(parse_cursor(&after).gql()?),
        None => ctx.data_opt::<ResumeAfter>().map(|r| r.0),
    };
    let log = services(ctx).certifications.event_log();
    let last = match after {
        Some(after) => {
            log.resumable_after(after).await.gql()?;
            after
        }
        None => log.now().await.gql()?,
    };
    Ok(log.follow(last))
}

#[SubscriptionDerive]
impl Subscription {
    /// Every transition of this node's certifications (and of those MRA partners sent) that
    /// matches `filter`, in commit order: from now on, or every one after the cursor `after`
    /// (an event's `cursor`; `"0"` is the beginning). A subscriber that reconnects, to this
    /// replica or another, resumes after the last cursor it received and misses nothing; over
    /// SSE, `Last-Event-ID` does the same. A cursor older than the node keeps events for
    /// (`[events] retain_days`) is refused, naming `after` and the oldest cursor it can resume
    /// after.
    async fn certification_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<CertificationEventFilter>,
        after: Option<ID>,
    ) -> Result<impl Stream<Item = Result<CertificationEventObject>>> {
        authorize(principal(ctx), Operation::SubscribeEvents).gql()?;
        let filter = filter.unwrap_or_default();
        let cursor_cell = ctx.data_opt::<LastCursor>().cloned();
        let events = follow_log(ctx, after).await?;
        Ok(async_stream::stream! {
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                match event {
                    Ok(event) => {
                        if filter.matches(&event) {
                            if let Some(cell) = &cursor_cell {
                                cell.0.store(event.sequence, Ordering::SeqCst);
                            }
                            yield Ok(CertificationEventObject(event));
                        }
                    }
                    Err(error) => {
                        yield Err(error).gql();
                        break;
                    }
                }
            }
        })
    }

    /// Status changes of the operators this account (VERIFIER) follows with their consent, here
    /// and at MRA partners, in commit order, from the grant on (not submissions or their
    /// rejection): status and validity only. From now on, or after
    /// the cursor `after`; an operator whose consent ended or was withdrawn is not heard from
    /// the next change on.
    async fn recognition_changes(
        &self,
        ctx: &Context<'_>,
        after: Option<ID>,
    ) -> Result<impl Stream<Item = Result<RecognitionChangeObject>>> {
        let (verifier, _) = authorize(principal(ctx), Operation::FollowOperators).gql()?;
        let verifier = verifier.username.clone();
        let watch_lists = services(ctx).watch_lists.clone();
        let cursor_cell = ctx.data_opt::<LastCursor>().cloned();
        let events = follow_log(ctx, after).await?;
        Ok(async_stream::stream! {
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                let followed = match event {
                    Ok(event) => match RecognitionChange::of(&event) {
                        Some(change) => watch_lists
                            .followed_at(&verifier, &change.issuing_country, &change.tin, event.sequence)
                            .await
                            .map(|follows| follows.then_some((event.sequence, change))),
                        None => Ok(None),
                    },
                    Err(error) => Err(error),
                };
                match followed {
                    Ok(Some((sequence, change))) => {
                        if let Some(cell) = &cursor_cell {
                            cell.0.store(sequence, Ordering::SeqCst);
                        }
                        watch_lists.streaming(&verifier, &change).await;
                        yield Ok(change.into());
                    }
                    Ok(None) => {}
                    Err(error) => {
                        yield Err(error).gql();
                        break;
                    }
                }
            }
        })
    }
}
