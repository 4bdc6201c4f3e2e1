//! The sockets' streams into the actor: datagrams, accepted connections
//! (admitted by the `incoming` registry) and their frames (closed when the
//! core rejects one).

use std::net::SocketAddr;
use std::time::Instant;

use actix::prelude::*;
use actix_cluster_proto::Received;

use super::Cluster;
use crate::counters::inc;
use crate::incoming::Room;
use crate::transport::{self, Datagram, Inbound};

impl StreamHandler<Datagram> for Cluster {
    fn handle(&mut self, d: Datagram, ctx: &mut Context<Self>) {
        let entry = Instant::now();
        let _enter = self.span.clone().entered();
        let now = self.now();
        self.core.handle_datagram(now, d.from, &d.bytes);
        self.drain(ctx);
        self.handling.0.record(entry.elapsed());
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        tracing::warn!("UDP receive stream ended");
    }
}

impl StreamHandler<(tokio::net::TcpStream, SocketAddr)> for Cluster {
    fn handle(
        &mut self,
        (stream, peer): (tokio::net::TcpStream, SocketAddr),
        ctx: &mut Context<Self>,
    ) {
        let _enter = self.span.clone().entered();
        let ip = peer.ip();
        match self.incoming.room_for(ip, &self.limits, Instant::now()) {
            Room::Free => {}
            Room::Evicted(handle) => {
                ctx.cancel_future(handle);
                inc(&self.counters.connections_evicted);
            }
            Room::PerIpFull => {
                inc(&self.counters.connections_rejected);
                tracing::debug!(%peer, "too many incoming connections from this address, closing");
                return;
            }
            Room::AllBusy => {
                inc(&self.counters.connections_rejected);
                tracing::warn!(%peer, "too many incoming connections, all busy: closing");
                return;
            }
        }
        let conn = self.incoming.next_number();
        let frames = transport::admit(
            stream,
            peer,
            self.max_frame_size,
            self.limits,
            &self.counters,
            conn,
        );
        let handle = ctx.add_stream(frames);
        self.incoming.opened(conn, ip, handle, Instant::now());
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        tracing::warn!("TCP accept stream ended");
    }
}

impl StreamHandler<Inbound> for Cluster {
    fn handle(&mut self, inbound: Inbound, ctx: &mut Context<Self>) {
        let entry = Instant::now();
        let _enter = self.span.clone().entered();
        let (conn, from, bytes) = match inbound {
            Inbound::Frame { conn, from, bytes } => (conn, from, bytes),
            Inbound::Closed { conn } => {
                self.incoming.closed(conn);
                return;
            }
        };
        let now = self.now();
        if self.core.handle_stream(now, from, &bytes) == Received::Rejected {
            // A slot is for a member talking the protocol: close it.
            if let Some(handle) = self.incoming.rejected(conn) {
                ctx.cancel_future(handle);
                inc(&self.counters.connections_closed_rejected);
                tracing::debug!(%from, "frame rejected: closing its connection");
            }
        } else {
            self.incoming.accepted(conn, Instant::now());
        }
        self.drain(ctx);
        self.handling.1.record(entry.elapsed());
    }

    /// One connection ended; the actor keeps running.
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}
