/* A small BlurHash decoder (https://blurha.sh, algorithm by Wolt): string -> RGBA pixels.
 * Written for this gallery from the published algorithm; exposes window.BlurHash.{isValid, decode, paint}. */
"use strict";
(function () {
  const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";
  const INDEX = new Map([...DIGITS].map((c, i) => [c, i]));

  function decode83(text) {
    let value = 0;
    for (const c of text) {
      const digit = INDEX.get(c);
      if (digit === undefined) throw new Error("not a BlurHash");
      value = value * 83 + digit;
    }
    return value;
  }

  const toLinear = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const toSrgb = (v) => {
    v = Math.max(0, Math.min(1, v));
    return v <= 0.0031308 ? Math.round(v * 12.92 * 255 + 0.5) : Math.round((1.055 * Math.pow(v, 1 / 2.4) - 0.055) * 255 + 0.5);
  };
  const signPow = (v, e) => Math.sign(v) * Math.pow(Math.abs(v), e);

  function isValid(hash) {
    if (typeof hash !== "string" || hash.length < 6) return false;
    try {
      const size = decode83(hash[0]);
      const nx = (size % 9) + 1, ny = Math.floor(size / 9) + 1;
      decode83(hash);
      return hash.length === 4 + 2 * nx * ny;
    } catch (_) {
      return false;
    }
  }

  /** RGBA pixels (Uint8ClampedArray) of a width x height rendering of `hash`. */
  function decode(hash, width, height, punch = 1) {
    if (!isValid(hash)) throw new Error("not a BlurHash");
    const size = decode83(hash[0]);
    const nx = (size % 9) + 1, ny = Math.floor(size / 9) + 1;
    const maxValue = ((decode83(hash[1]) + 1) / 166) * punch;
    const colors = new Array(nx * ny);
    const dc = decode83(hash.substring(2, 6));
    colors[0] = [toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)];
    for (let i = 1; i < colors.length; i++) {
      const ac = decode83(hash.substring(4 + i * 2, 6 + i * 2));
      colors[i] = [
        signPow((Math.floor(ac / 361) - 9) / 9, 2) * maxValue,
        signPow(((Math.floor(ac / 19) % 19) - 9) / 9, 2) * maxValue,
        signPow(((ac % 19) - 9) / 9, 2) * maxValue,
      ];
    }
    const pixels = new Uint8ClampedArray(width * height * 4);
    const cosX = new Float64Array(width * nx), cosY = new Float64Array(height * ny);
    for (let x = 0; x < width; x++) for (let i = 0; i < nx; i++) cosX[x * nx + i] = Math.cos((Math.PI * x * i) / width);
    for (let y = 0; y < height; y++) for (let j = 0; j < ny; j++) cosY[y * ny + j] = Math.cos((Math.PI * y * j) / height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let r = 0, g = 0, b = 0;
        for (let j = 0; j < ny; j++) {
          const cy = cosY[y * ny + j];
          for (let i = 0; i < nx; i++) {
            const basis = cosX[x * nx + i] * cy;
            const c = colors[i + j * nx];
            r += c[0] * basis; g += c[1] * basis; b += c[2] * basis;
          }
        }
        const p = 4 * (x + y * width);
        pixels[p] = toSrgb(r); pixels[p + 1] = toSrgb(g); pixels[p + 2] = toSrgb(b); pixels[p + 3] = 255;
      }
    }
    return pixels;
  }

  /** Paint `hash` onto `canvas` (its own small size; CSS stretches it). False if the hash is unusable. */
  function paint(canvas, hash) {
    if (!isValid(hash)) return false;
    const ctx = canvas.getContext("2d");
    if (!ctx) return false;
    const image = ctx.createImageData(canvas.width, canvas.height);
    image.data.set(decode(hash, canvas.width, canvas.height));
    ctx.putImageData(image, 0, 0);
    return true;
  }

  window.BlurHash = { isValid, decode, paint };
})();
