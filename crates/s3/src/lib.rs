//! basalt-s3: the S3 protocol endpoint (`/storage/v1/s3`) over the storage service's buckets and
//! objects.
