// CKKS interop vectors made by node-seal 6.0.3 (Microsoft SEAL 4.1), the HE library of the
// Reflective web client, under the lean parameters the server announces to new keys:
// 8192 / [60, 40, 60], every value encoded at scale 2^40 (the web client ignores the
// announced scale and always uses 2^40).
//
// Regenerate (Node 20; nothing else is needed):
//
//   mkdir -p /tmp/node-seal-vectors && cd /tmp/node-seal-vectors
//   npm init -y && npm install node-seal@6.0.3
//   node /path/to/repo/tests/data/generate_node_seal_vectors.mjs \
//     > /path/to/repo/tests/data/he_ckks_node_seal_6_lean.json
//
// The script is run from the folder holding node_modules (it resolves node-seal from the
// working directory). Keys are random, so every run gives new (equally valid) vectors.

import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "noop.js"));
const SEAL = require("node-seal");

const POLY_MODULUS_DEGREE = 8192;
const COEFF_MOD_BIT_SIZES = [60, 40, 60];
const SCALE = Math.pow(2, 40);

// Values as the web client measures them: word counts and sentiment scores in [-1, 1].
const VALUES = [
  ["word_count", 412, "2026-01-03T08:15:00Z"],
  ["word_count", 1250.5, "2026-02-14T21:40:00Z"],
  ["word_count", 0, "2026-03-01T00:00:00Z"],
  ["word_count", 87, "2026-06-30T23:59:59Z"],
  ["word_count", 3301, "2026-07-04T12:00:00Z"],
  ["word_count", 640.25, "2026-12-31T18:30:00Z"],
  ["sentiment_score", 0.734, "2026-01-03T08:15:00Z"],
  ["sentiment_score", -0.52, "2026-02-14T21:40:00Z"],
  ["sentiment_score", 0.0, "2026-03-01T00:00:00Z"],
  ["sentiment_score", 1.0, "2026-06-30T23:59:59Z"],
  ["sentiment_score", -1.0, "2026-07-04T12:00:00Z"],
  ["sentiment_score", 0.125, "2026-12-31T18:30:00Z"],
];

const seal = await SEAL();
const parms = seal.EncryptionParameters(seal.SchemeType.ckks);
parms.setPolyModulusDegree(POLY_MODULUS_DEGREE);
parms.setCoeffModulus(
  seal.CoeffModulus.Create(POLY_MODULUS_DEGREE, Int32Array.from(COEFF_MOD_BIT_SIZES)),
);
const context = seal.Context(parms, true, seal.SecurityLevel.tc128);
if (!context.parametersSet()) {
  throw new Error("SEAL rejects the parameters: " + context.parameterErrorMessage());
}
const keys = seal.KeyGenerator(context);
const publicKey = keys.createPublicKey();
const secretKey = keys.secretKey();
const encoder = seal.CKKSEncoder(context);
const encryptor = seal.Encryptor(context, publicKey);
const decryptor = seal.Decryptor(context, secretKey);
const evaluator = seal.Evaluator(context);

const metrics = VALUES.map(([metric_type, value, timestamp]) => {
  const plain = encoder.encode(Float64Array.from([value]), SCALE);
  const cipher = encryptor.encrypt(plain);
  const encrypted_value = cipher.save(); // base64, SEAL-native, zstd: what the client sends
  plain.delete();
  cipher.delete();
  return { metric_type, value, timestamp, encrypted_value };
});

// node-seal itself sums a type and decrypts, as a check on the vectors (and on the scale).
function nodeSealSum(type) {
  let total = null;
  for (const m of metrics.filter((x) => x.metric_type === type)) {
    const c = seal.CipherText();
    c.load(context, m.encrypted_value);
    if (total === null) {
      total = c;
    } else {
      evaluator.add(total, c, total);
      c.delete();
    }
  }
  const plain = decryptor.decrypt(total);
  return encoder.decode(plain)[0];
}

const expected = {};
for (const type of ["word_count", "sentiment_score"]) {
  const values = metrics.filter((m) => m.metric_type === type).map((m) => m.value);
  const sum = values.reduce((a, b) => a + b, 0);
  expected[type] = {
    sum,
    average: sum / values.length,
    count: values.length,
    node_seal_sum: nodeSealSum(type),
  };
}

process.stdout.write(
  JSON.stringify(
    {
      about:
        "CKKS vectors made with node-seal 6.0.3 (Microsoft SEAL 4.1) under the lean " +
        "parameters 8192 / [60, 40, 60], encoded at scale 2^40 as the web client does. " +
        "Ciphertexts and keys are base64 of SEAL-native serialization (zstd). One value " +
        "per ciphertext, in slot 0. Made by tests/data/generate_node_seal_vectors.mjs.",
      context_params: {
        scheme: "CKKS",
        poly_modulus_degree: POLY_MODULUS_DEGREE,
        coeff_mod_bit_sizes: COEFF_MOD_BIT_SIZES,
        scale: SCALE,
      },
      public_key: publicKey.save(),
      secret_key: secretKey.save(),
      metrics,
      expected,
      tolerance: 1e-3,
    },
    null,
    1,
  ) + "\n",
);
