//! The `Cluster` actor. (To be written.)

use actix::prelude::*;

/// The cluster actor: one per actix `System`.
pub struct Cluster {}

impl Actor for Cluster {
    type Context = Context<Self>;
}
