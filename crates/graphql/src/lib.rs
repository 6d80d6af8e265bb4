//! basalt-graphql: the pg_graphql-compatible GraphQL API (`/graphql/v1`).
