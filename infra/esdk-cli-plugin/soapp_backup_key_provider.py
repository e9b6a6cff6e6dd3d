"""A master key provider for aws-encryption-cli: the app's per-tenant backup keys.

Each backup message's data key is wrapped by the tenant's 256-bit data key with AES-256-GCM (a raw
AES keyring, namespace ``soapp-backup``, key name ``{tenant}/{key id}``). The standard CLI only knows
KMS keys; this provider lets it decrypt a message given that key in a file::

    aws-encryption-cli --decrypt --input part.esdk --output part.jsonl \
      --wrapping-keys provider=soapp-backup key=Cust12345/kabc123 key-file=tenant.key \
      --encryption-context app=superoffice-app environment=sod tenant=Cust12345 \
      --commitment-policy require-encrypt-require-decrypt

The key file holds the 32 raw bytes of the tenant's key (unwrap it with ``aws kms decrypt``; see
infra/DEPLOY.md, "Reading a backup without this program").
"""

from aws_encryption_sdk.identifiers import EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKeyProvider

PROVIDER_ID = "soapp-backup"


class TenantKeyProvider(RawMasterKeyProvider):
    """Raw AES-256-GCM wrapping keys read from a file; every key id names the same key."""

    provider_id = PROVIDER_ID

    def __init__(self, **kwargs):  # pylint: disable=unused-argument
        # The SDK builds providers from keyword configuration in __new__; the key is set after.
        self._key = None

    def _get_raw_key(self, key_id):
        if self._key is None:
            raise ValueError("no tenant key was given (key-file=PATH)")
        return WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=self._key,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        )


def tenant_key_provider(**kwargs):
    """The CLI calls this with each ``name=value`` of ``--wrapping-keys`` as a list of values."""
    files = kwargs.get("key-file") or []
    if len(files) != 1:
        raise ValueError("give the tenant's key file once: key-file=PATH")
    with open(files[0], "rb") as f:
        key = f.read()
    if len(key) != 32:
        raise ValueError(f"{files[0]} holds {len(key)} bytes, not a 256-bit key")
    provider = TenantKeyProvider()
    provider._key = key  # pylint: disable=protected-access
    return provider
