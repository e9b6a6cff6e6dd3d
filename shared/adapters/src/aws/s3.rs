//! The backup bucket: objects created only if absent (`If-None-Match: *` on `PutObject` and
//! `CompleteMultipartUpload`), written as a multipart upload once an object outgrows one upload
//! part, read back by ranged `GetObject`.
//!
//! The role that writes backups may put objects but not delete them (nor abort an upload: an
//! upload left incomplete at a time limit is removed by the bucket's lifecycle rule). Objects are
//! encrypted at rest by the bucket's default (SSE-KMS); nothing is asked of the writer for that.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use domain::backup::objects::{BackupObjects, ObjectError, ObjectWriter};

/// Bytes gathered before an upload part is sent: S3's minimum for every part but the last.
pub const UPLOAD_PART_BYTES: usize = 5 * 1024 * 1024;

/// The S3 client for the shared configuration. Against an emulator (an endpoint set by
/// `AWS_ENDPOINT_URL`) buckets are addressed by path: a bucket name cannot be a host name of
/// 127.0.0.1.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    Client::from_conf(config)
}

#[derive(Clone, Debug)]
pub struct S3Objects {
    client: Client,
    bucket: String,
}

impl S3Objects {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

type Failure<E> = SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

fn code<E: ProvideErrorMetadata>(e: &Failure<E>) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

fn status<E>(e: &Failure<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// A create that found the object there (412 Precondition Failed; 409 when another create of the
/// same name was in flight).
fn created_already<E: ProvideErrorMetadata>(e: &Failure<E>) -> bool {
    matches!(
        code(e),
        Some("PreconditionFailed") | Some("ConditionalRequestConflict")
    ) || matches!(status(e), Some(412) | Some(409))
}

fn not_found<E: ProvideErrorMetadata>(e: &Failure<E>) -> bool {
    matches!(code(e), Some("NoSuchKey") | Some("NotFound")) || status(e) == Some(404)
}

fn unavailable<E, R>(e: SdkError<E, R>) -> ObjectError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    ObjectError::unavailable(e)
}

impl BackupObjects for S3Objects {
    type Writer = S3Writer;

    async fn create(&self, key: &str) -> Result<S3Writer, ObjectError> {
        Ok(S3Writer {
            objects: self.clone(),
            key: key.to_owned(),
            buffer: Vec::new(),
            upload: None,
        })
    }

    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<(), ObjectError> {
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(bytes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if created_already(&e) => Err(ObjectError::AlreadyExists(key.to_owned())),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, ObjectError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if not_found(&e) => return Err(ObjectError::NotFound(key.to_owned())),
            Err(e) => return Err(unavailable(e)),
        };
        Ok(out
            .body
            .collect()
            .await
            .map_err(ObjectError::unavailable)?
            .to_vec())
    }

    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, ObjectError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={}-{}", offset, offset + len - 1))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if not_found(&e) => return Err(ObjectError::NotFound(key.to_owned())),
            // 416: the range starts past the end.
            Err(e) if status(&e) == Some(416) => {
                return Err(ObjectError::Truncated {
                    key: key.to_owned(),
                    from: offset,
                    to: offset + len,
                    got: 0,
                });
            }
            Err(e) => return Err(unavailable(e)),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(ObjectError::unavailable)?
            .to_vec();
        if bytes.len() as u64 != len {
            return Err(ObjectError::Truncated {
                key: key.to_owned(),
                from: offset,
                to: offset + len,
                got: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    async fn size(&self, key: &str) -> Result<u64, ObjectError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(out.content_length().unwrap_or(0).max(0) as u64),
            Err(e) if not_found(&e) => Err(ObjectError::NotFound(key.to_owned())),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn children(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(unavailable)?;
            for p in page.common_prefixes() {
                if let Some(name) = p.prefix().and_then(|p| p.strip_prefix(prefix)) {
                    out.push(name.to_owned());
                }
            }
            for o in page.contents() {
                if let Some(name) = o.key().and_then(|k| k.strip_prefix(prefix)) {
                    out.push(name.to_owned());
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }
}

/// An object being written: bytes gathered to [`UPLOAD_PART_BYTES`], then sent as upload parts.
pub struct S3Writer {
    objects: S3Objects,
    key: String,
    buffer: Vec<u8>,
    /// The multipart upload's id and the parts sent so far.
    upload: Option<(String, Vec<CompletedPart>)>,
}

impl S3Writer {
    async fn send_part(&mut self) -> Result<(), ObjectError> {
        let (client, bucket) = (&self.objects.client, &self.objects.bucket);
        if self.upload.is_none() {
            let created = client
                .create_multipart_upload()
                .bucket(bucket)
                .key(&self.key)
                .send()
                .await
                .map_err(unavailable)?;
            let id = created
                .upload_id()
                .ok_or_else(|| ObjectError::unavailable(NoUploadId))?
                .to_owned();
            self.upload = Some((id, Vec::new()));
        }
        let Some((id, parts)) = self.upload.as_mut() else {
            return Err(ObjectError::unavailable(NoUploadId));
        };
        let number = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
        let body = std::mem::take(&mut self.buffer);
        let sent = client
            .upload_part()
            .bucket(bucket)
            .key(&self.key)
            .upload_id(id.as_str())
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(unavailable)?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(sent.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("S3 started a multipart upload without an upload id")]
struct NoUploadId;

impl ObjectWriter for S3Writer {
    async fn append(&mut self, bytes: Vec<u8>) -> Result<(), ObjectError> {
        if self.buffer.is_empty() {
            self.buffer = bytes;
        } else {
            self.buffer.extend_from_slice(&bytes);
        }
        if self.buffer.len() >= UPLOAD_PART_BYTES {
            self.send_part().await?;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<(), ObjectError> {
        if self.upload.is_none() {
            let bytes = std::mem::take(&mut self.buffer);
            return self.objects.put_new(&self.key, bytes).await;
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        let Some((id, parts)) = self.upload.take() else {
            return Err(ObjectError::unavailable(NoUploadId));
        };
        let result = self
            .objects
            .client
            .complete_multipart_upload()
            .bucket(&self.objects.bucket)
            .key(&self.key)
            .upload_id(id)
            .if_none_match("*")
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if created_already(&e) => Err(ObjectError::AlreadyExists(self.key)),
            Err(e) => Err(unavailable(e)),
        }
    }
}
