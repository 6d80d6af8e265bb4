//! basalt-studio: the dashboard, served by `basalt start` on its own port.
