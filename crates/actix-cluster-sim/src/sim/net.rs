//! The network model: latency, jitter, uniform and bursty loss.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;

use crate::sim::error::SimError;

/// How the simulated network treats traffic. Partitions, one-way cuts and
/// per-link latency are changed at run time on [`Sim`](crate::Sim).
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// One-way base latency of every link (see
    /// [`Sim::set_link_latency`](crate::Sim::set_link_latency) for overrides).
    /// Default 500 µs.
    pub latency: Duration,
    /// Extra one-way delay drawn uniformly from `0..=jitter` for every message.
    /// Default 500 µs.
    pub jitter: Duration,
    /// Datagram loss. Stream frames are never lost (only dropped by cuts).
    pub loss: Loss,
    /// When true (the default), a stream frame arrives `from` the sender's IP with
    /// an ephemeral port, as an accepted TCP connection would report it; when
    /// false, `from` is the sender's gossip address.
    pub ephemeral_stream_ports: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency: Duration::from_micros(500),
            jitter: Duration::from_micros(500),
            loss: Loss::None,
            ephemeral_stream_ports: true,
        }
    }
}

impl NetConfig {
    /// A network with `latency` and `jitter` and no loss.
    pub fn with_latency(latency: Duration, jitter: Duration) -> Self {
        NetConfig {
            latency,
            jitter,
            ..NetConfig::default()
        }
    }

    /// Returns the first bad field, named.
    pub fn validate(&self) -> Result<(), SimError> {
        self.loss.validate()
    }
}

/// Datagram loss model.
#[derive(Clone, Debug, PartialEq)]
pub enum Loss {
    /// No loss.
    None,
    /// Every datagram is lost independently with this probability (0..=1).
    Uniform(f64),
    /// Correlated loss in bursts, per directed link; see [`GilbertElliott`].
    Bursty(GilbertElliott),
}

impl Loss {
    /// Average fraction of datagrams lost.
    pub fn average(&self) -> f64 {
        match self {
            Loss::None => 0.0,
            Loss::Uniform(p) => *p,
            Loss::Bursty(ge) => ge.average(),
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        let prob = |field: &'static str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(SimError::bad_field(
                    field,
                    format!("{p} is not a probability in 0..=1"),
                ))
            }
        };
        match self {
            Loss::None => Ok(()),
            Loss::Uniform(p) => prob("loss", *p),
            Loss::Bursty(ge) => {
                prob("loss.loss_good", ge.loss_good)?;
                prob("loss.loss_bad", ge.loss_bad)?;
                if ge.mean_good.is_zero() {
                    return Err(SimError::bad_field("loss.mean_good", "must be > 0".into()));
                }
                if ge.mean_bad.is_zero() {
                    return Err(SimError::bad_field("loss.mean_bad", "must be > 0".into()));
                }
                Ok(())
            }
        }
    }
}

/// The Gilbert–Elliott two-state loss model, in continuous time: each directed
/// link alternates between a good and a bad state, staying in each for an
/// exponentially distributed time (means `mean_good` and `mean_bad`); a datagram
/// is lost with probability `loss_good` or `loss_bad` depending on the link's state
/// when it is sent. Links are independent of each other.
#[derive(Clone, Debug, PartialEq)]
pub struct GilbertElliott {
    /// Mean time in the good state.
    pub mean_good: Duration,
    /// Mean time in the bad state (the burst length).
    pub mean_bad: Duration,
    /// Loss probability in the good state.
    pub loss_good: f64,
    /// Loss probability in the bad state.
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// Bursts of total loss lasting `mean_burst` on average, spaced so that the
    /// average loss is `average` (e.g. 0.2 and 500 ms: bursts of 500 ms every
    /// 2.5 s on average). `average` is clamped to `0.001..=0.999`.
    pub fn with_average(average: f64, mean_burst: Duration) -> Self {
        let avg = average.clamp(0.001, 0.999);
        // avg = mean_bad * loss_bad / (mean_good + mean_bad), with loss_bad = 1.
        let mean_good = mean_burst.mul_f64((1.0 - avg) / avg);
        GilbertElliott {
            mean_good,
            mean_bad: mean_burst,
            loss_good: 0.0,
            loss_bad: 1.0,
        }
    }

    /// Average fraction of datagrams lost.
    pub fn average(&self) -> f64 {
        let g = self.mean_good.as_secs_f64();
        let b = self.mean_bad.as_secs_f64();
        if g + b == 0.0 {
            return 0.0;
        }
        (g * self.loss_good + b * self.loss_bad) / (g + b)
    }

    fn stationary_bad(&self) -> f64 {
        let g = self.mean_good.as_secs_f64();
        let b = self.mean_bad.as_secs_f64();
        b / (g + b)
    }
}

/// State of one directed link under [`GilbertElliott`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct GeLink {
    bad: bool,
    until: Duration,
}

fn exp_sample(rng: &mut SmallRng, mean: Duration) -> Duration {
    let u: f64 = rng.gen::<f64>();
    // 1 - u is in (0, 1], so ln is finite.
    mean.mul_f64(-(1.0 - u).ln())
}

impl GeLink {
    /// A link drawn from the stationary distribution at `now`.
    pub(crate) fn fresh(ge: &GilbertElliott, rng: &mut SmallRng, now: Duration) -> GeLink {
        let bad = rng.gen::<f64>() < ge.stationary_bad();
        let mean = if bad { ge.mean_bad } else { ge.mean_good };
        GeLink {
            bad,
            until: now + exp_sample(rng, mean),
        }
    }

    /// Advances the link to `now` and draws whether a datagram is lost.
    pub(crate) fn lose(&mut self, ge: &GilbertElliott, rng: &mut SmallRng, now: Duration) -> bool {
        if now >= self.until {
            // After a long idle stretch the state is independent of the past.
            let cycle = ge.mean_good + ge.mean_bad;
            if now - self.until > cycle * 20 {
                *self = GeLink::fresh(ge, rng, now);
            } else {
                while now >= self.until {
                    self.bad = !self.bad;
                    let mean = if self.bad { ge.mean_bad } else { ge.mean_good };
                    self.until += exp_sample(rng, mean).max(Duration::from_nanos(1));
                }
            }
        }
        let p = if self.bad { ge.loss_bad } else { ge.loss_good };
        p > 0.0 && rng.gen::<f64>() < p
    }
}
