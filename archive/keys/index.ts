// Keys of encrypted archives (docs/scale-out.md §10.1): the master key provider, the data key stores, erasure
// and retention by key deletion, learner pseudonyms, and the data key cache of readers and writers.
export { type KeyProvider, LocalKeyProvider, openKeyProvider, readMasterKeyFile, ensureMasterKeyFile, MASTER_KEY_ENV, MASTER_KEY_FILE_ENV, KEY_PROVIDER_ENV, type KeyProviderOptions } from './provider.js';
export { type DekStore, type WrappedDek, checkKid, monthOf, learnerKid, otherKid, parseKid } from './dek-store.js';
export { FileDekStore } from './file-dek-store.js';
export { RedisDekStore, dekKey } from './redis-dek-store.js';
export { eraseLearnerKeys, expireKeys, type ExpireOptions } from './erase.js';
export { learnerPseudonym, pseudonymOf, pseudonymizer } from './pseudonym.js';
export { Keyring, wrapAad } from './keyring.js';
