// genzoo explore: the page's logic. Plain JavaScript, no build step; every picture comes from the
// JSON API of genzoo/explore/app.py as a PNG data URL. A panel is shown for each capability the
// chosen model declares (GET /api/runs).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  runs: [], run: null, compare: null,
  code: null, sliders: [], locked: new Set(), values: [],
  a: null, b: null,          // {code, index | image, klass}
  stream: null, frames: [],
};
// Slider -> picture latencies in ms (input event to the new image decoded), for the browser test
// and the benchmark.
window.genzooLatencies = [];

function showError(msg) {
  const e = $("error");
  e.textContent = msg || "";
  e.hidden = !msg;
}

async function api(name, body, method = "POST") {
  const opts = method === "GET" ? {} : { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const url = method === "GET" ? `/api/${name}?` + new URLSearchParams(body) : `/api/${name}`;
  const r = await fetch(url, opts);
  const out = await r.json();
  if (!r.ok) throw new Error(out.error || `HTTP ${r.status}`);
  return out;
}

function has(run, cap) { return run && run.capabilities.includes(cap); }
function img(src, alt = "") { const i = document.createElement("img"); i.src = src; i.alt = alt; return i; }
function seedOf(id) { return Math.max(0, parseInt($(id).value || "0", 10) || 0); }
function newSeed(id) { const s = Math.floor(Math.random() * 1e6); $(id).value = s; return s; }
function setImage(el, src) {
  return new Promise((resolve) => {
    el.onload = () => resolve();
    el.onerror = () => resolve();
    el.src = src;
  });
}
function klass(selectId) { const v = $(selectId).value; return v === "" ? undefined : v; }

// ---------------------------------------------------------------------------------------- runs
async function loadRuns() {
  const { runs } = await api("runs", {}, "GET");
  state.runs = runs;
  for (const r of runs) {
    const label = `${r.name} (${r.model_type})`;
    $("run").add(new Option(label, r.id));
    $("compare").add(new Option(label, r.id));
  }
  const wanted = new URLSearchParams(location.search).get("run");
  if (wanted && runs.some((r) => r.id === wanted)) $("run").value = wanted;
  await chooseRun();
}

async function chooseRun() {
  showError("");
  stopStream();
  const run = state.runs.find((r) => r.id === $("run").value);
  state.run = run;
  state.compare = state.runs.find((r) => r.id === $("compare").value && r.id !== run.id) || null;
  state.a = state.b = state.code = null;
  state.locked = new Set();
  $("info").textContent = `${run.model_type} · step ${run.step ?? "?"} · can: ${run.capabilities.join(", ")}` +
    (run.data_note ? ` · ${run.data_note}` : "");
  const cond = has(run, "conditional"), iter = has(run, "iterative");
  $("panel-sampler").hidden = !has(run, "sampler");
  $("panel-sliders").hidden = !has(run, "decoder");
  $("panel-encoder").hidden = !has(run, "encoder");
  $("panel-examples").hidden = !(run.test_examples > 0 || run.kind === "image");
  document.querySelectorAll(".enc").forEach((e) => { e.hidden = !has(run, "encoder"); });
  $("panel-diffusion").hidden = !iter;
  $("panel-inpaint").hidden = !(run.kind === "image" && (has(run, "inpainter") || has(run, "encoder")) && run.test_examples > 0);
  document.querySelectorAll(".cond").forEach((e) => { e.hidden = !cond; });
  document.querySelectorAll(".iter").forEach((e) => { e.hidden = !iter; });
  document.querySelectorAll(".guided").forEach((e) => { e.hidden = !(cond && iter); });
  document.querySelectorAll(".like").forEach((e) => { e.hidden = !has(run, "likelihood"); });
  for (const id of ["sample-class", "sliders-class"]) {
    const s = $(id);
    s.length = id === "sample-class" ? 1 : 0;
    for (const [i, n] of (run.class_names || []).entries()) s.add(new Option(n, String(i)));
  }
  for (const id of ["sample-sampler", "diff-sampler"]) {
    const s = $(id);
    s.length = 0;
    for (const n of run.samplers || []) s.add(new Option(n, n));
    if (run.default_sampler) s.value = run.default_sampler.sampler; // the model's own default
  }
  if (run.default_sampler) $("sample-steps").value = run.default_sampler.steps; // ... and its steps
  if (run.default_sampler && run.default_sampler.guidance != null) { // ... and a cddpm's guidance w
    $("sample-guidance").value = run.default_sampler.guidance;
    $("sample-guidance-value").textContent = $("sample-guidance").value;
  }
  const tasks = [loadTraining()];
  if (has(run, "sampler")) tasks.push(showSamples());
  if (!$("panel-examples").hidden) tasks.push(loadExamples());
  if (has(run, "decoder")) tasks.push(loadSliders());
  await Promise.all(tasks.map((t) => t.catch((e) => showError(e.message))));
}

// ------------------------------------------------------------------------------------- samples
function sampleBody(run, seed) {
  const body = { run: run.id, seed, n: 16 };
  if (has(run, "conditional")) {
    if ($("sample-prompt").value.trim()) body.prompt = $("sample-prompt").value.trim();
    else if (klass("sample-class") !== undefined) body.class = klass("sample-class");
    if (has(run, "iterative")) body.guidance = Number($("sample-guidance").value);
  }
  if (has(run, "iterative")) {
    body.sampler = $("sample-sampler").value;
    body.steps = Number($("sample-steps").value);
  }
  return body;
}

async function fillGrid(gridId, captionId, run, seed) {
  const out = await api("sample", sampleBody(run, seed));
  const grid = $(gridId);
  grid.replaceChildren(...out.images.map((s) => img(s, "sample")));
  $(captionId).textContent = `${run.name}, seeds ${seed}..${seed + 15}` +
    (out.class !== null && out.class !== undefined ? `, class ${run.class_names[out.class]}` : "");
}

async function showSamples() {
  showError("");
  const seed = seedOf("sample-seed");
  const jobs = [fillGrid("sample-grid", "sample-caption", state.run, seed)];
  $("sample-compare").hidden = !(state.compare && has(state.compare, "sampler"));
  if (!$("sample-compare").hidden) {
    const b = state.compare;
    const body = sampleBody(b, seed);
    jobs.push(api("sample", body).then((out) => {
      $("sample-grid-b").replaceChildren(...out.images.map((s) => img(s, "sample")));
      $("sample-caption-b").textContent = `${b.name}, the same seeds`;
    }));
  }
  await Promise.all(jobs);
}

// ------------------------------------------------------------------------------------- sliders
function sliderRow(parent, { name, label, min, max, step, lockable, low, high }) {
  const lab = document.createElement("label");
  lab.textContent = label;
  const input = document.createElement("input");
  Object.assign(input, { type: "range", min, max, step });
  input.dataset.name = name;
  input.setAttribute("aria-label", label);
  const val = document.createElement("output");
  val.className = "val";
  const lock = document.createElement("label");
  if (lockable) {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.dataset.lock = name;
    box.addEventListener("change", () => {
      if (box.checked) state.locked.add(name); else state.locked.delete(name);
      input.disabled = box.checked;
    });
    lock.append(box, " lock");
  }
  parent.append(lab, input, val, lock);
  if (low !== undefined) {
    const ends = document.createElement("div");
    ends.className = "ends";
    ends.innerHTML = "<span></span><span></span>";
    ends.children[0].textContent = `0 = ${low}`;
    ends.children[1].textContent = `1 = ${high}`;
    parent.append(ends, document.createElement("span"), document.createElement("span"));
  }
  return { input, val };
}

async function loadSliders() {
  const run = state.run;
  const out = await api("sliders", { run: run.id });
  if (state.run !== run) return;
  state.sliders = out.sliders;
  const attrs = $("attr-sliders");
  attrs.replaceChildren();
  state.attrInputs = out.sliders.map((s) => {
    const pc = s.group !== "attributes";
    const row = sliderRow(attrs, {
      name: s.name, label: s.name, min: pc ? -3 : -1, max: pc ? 3 : 2, step: 0.01, lockable: true,
      low: pc ? undefined : s.low, high: s.high,
    });
    row.input.addEventListener("input", () => slide({ kind: "attr", name: s.name, value: Number(row.input.value) }));
    return row;
  });
  const dims = $("dim-sliders");
  dims.replaceChildren();
  state.dimInputs = out.dimensions.map((d) => {
    const row = sliderRow(dims, { name: `z${d.dim}`, label: `z[${d.dim}]`, min: d.lo, max: d.hi, step: (d.hi - d.lo) / 200, lockable: false });
    row.input.addEventListener("input", () => slide({ kind: "dim", dim: d.dim, value: Number(row.input.value) }));
    return row;
  });
  $("sliders-note").textContent = out.sliders.length ? "" : "no attributes for this run";
  await redraw(seedOf("sliders-seed"));
}

function showCode(out, skip) {
  state.code = out.code;
  if (out.values) state.values = out.values;
  state.attrInputs?.forEach((row, i) => {
    const v = state.values[i];
    if (v === undefined) return;
    row.val.textContent = v.toFixed(2);
    if (row.input !== skip) row.input.value = v;
  });
  state.dimInputs?.forEach((row, i) => {
    if (row.input !== skip) row.input.value = state.code[i];
    row.val.textContent = Number(state.code[i]).toFixed(2);
  });
}

function lockedValues() {
  const out = {};
  state.sliders.forEach((s, i) => { if (state.locked.has(s.name)) out[s.name] = state.values[i]; });
  return out;
}

async function redraw(seed) {
  const run = state.run;
  const body = { run: run.id, seed, locked: lockedValues() };
  if (has(run, "conditional")) body.class = $("sliders-class").value || "0";
  const t0 = performance.now();
  const out = await api("redraw", body);
  if (state.run !== run) return;
  await setImage($("slider-image"), out.image);
  window.genzooLatencies.push(performance.now() - t0);
  showCode(out);
}

// Coalesced slider requests: one in flight per page, the latest position sent next.
let pending = null, busy = false;
function slide(move) {
  move.t0 = performance.now();
  pending = move;
  if (!busy) pump();
}
async function pump() {
  busy = true;
  while (pending) {
    const move = pending;
    pending = null;
    try {
      await applyMove(move);
    } catch (e) {
      showError(e.message);
    }
  }
  busy = false;
}
async function applyMove(move) {
  const run = state.run;
  if (!state.code) return;
  const cls = has(run, "conditional") ? ($("sliders-class").value || "0") : undefined;
  let out;
  if (move.kind === "attr") {
    out = await api("slide", { run: run.id, code: state.code, name: move.name, value: move.value, locked: [...state.locked], class: cls });
  } else {
    const code = state.code.slice();
    code[move.dim] = move.value;
    out = await api("decode", { run: run.id, code, class: cls, values: "yes" });
    out.code = code;
  }
  if (state.run !== run) return;
  await setImage($("slider-image"), out.image);
  window.genzooLatencies.push(performance.now() - move.t0);
  const skip = move.kind === "attr" ? state.attrInputs[state.sliders.findIndex((s) => s.name === move.name)].input : state.dimInputs[move.dim].input;
  showCode(out, skip);
}

// ------------------------------------------------------------------------- encoder, interpolation
async function loadExamples() {
  const run = state.run;
  const out = await api("examples", { run: run.id }, "GET");
  if (state.run !== run) return;
  const grid = $("examples");
  grid.replaceChildren(...out.images.map((s, i) => {
    const im = img(s, `test example ${i}`);
    im.dataset.index = i;
    im.addEventListener("click", (ev) => choose(ev.shiftKey ? "b" : "a", { index: i }));
    return im;
  }));
  if (!out.images.length) { $("examples").textContent = out.note || "no test examples"; return; }
  await choose("a", { index: 0 });
  await choose("b", { index: Math.min(1, out.images.length - 1) });
}

async function choose(which, src) {
  showError("");
  const run = state.run;
  let out;
  if (has(run, "encoder")) {
    out = await api("encode", { run: run.id, ...src });
  } else {  // no code: the picture itself (for likelihood and inpainting)
    const shown = src.index !== undefined ? document.querySelector(`#examples img[data-index="${src.index}"]`) : null;
    out = { input: shown ? shown.src : src.image, image: "", code: null, class: null };
  }
  if (state.run !== run) return;
  state[which] = { ...src, code: out.code, klass: out.class, input: out.input };
  document.querySelectorAll("#examples img").forEach((im) => {
    im.classList.toggle(which, src.index !== undefined && Number(im.dataset.index) === src.index);
  });
  if (which === "a") {
    $("enc-input").src = out.input;
    $("enc-recon").src = out.image;
    drawMaskBase();
    $("likelihood-value").textContent = "";
  } else {
    $("enc-b").src = out.input;
  }
  if (state.a && state.b && has(run, "encoder")) await interpolate();
}

async function interpolate() {
  if (!state.a || !state.b || !has(state.run, "encoder")) return;
  const t = Number($("interp-t").value), mode = $("interp-mode").value;
  $("interp-t-value").textContent = t.toFixed(2);
  const run = state.run;
  const out = await api("interpolate", { run: run.id, a: state.a.code, b: state.b.code, t, mode, class: state.a.klass ?? undefined });
  $("interp-image").src = out.image;
  $("interp-caption").textContent = `${run.name}: ${mode} at t = ${t.toFixed(2)}`;
  const b = state.compare;
  const same = b && has(b, "encoder") && JSON.stringify(b.shape) === JSON.stringify(run.shape) && state.a.index !== undefined && state.b.index !== undefined;
  $("interp-compare").hidden = !same;
  if (same) {
    const ea = await api("encode", { run: b.id, index: state.a.index });
    const eb = await api("encode", { run: b.id, index: state.b.index });
    const ob = await api("interpolate", { run: b.id, a: ea.code, b: eb.code, t, mode, class: ea.class ?? undefined });
    $("interp-image-b").src = ob.image;
    $("interp-caption-b").textContent = `${b.name}: the same images, the same t`;
  }
}

async function upload(file) {
  if (!file) return;
  if (file.size > 1024 * 1024) { showError("images up to 1 MiB"); return; }
  const url = await new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.readAsDataURL(file); });
  await choose("a", { image: url });
}

async function likelihood() {
  if (!state.a) return;
  const run = state.run;
  const src = state.a.index !== undefined ? { index: state.a.index } : { image: state.a.input };
  $("likelihood-value").textContent = "…";
  const out = await api("likelihood", { run: run.id, ...src });
  $("likelihood-value").textContent = `${out.bits_per_dim.toFixed(3)} bits/dim (${out.nats.toFixed(1)} nats; ${out.kind})`;
}

// ----------------------------------------------------------------------------------- diffusion
function stopStream() {
  if (state.stream) { state.stream.close(); state.stream = null; }
  $("diff-start").disabled = false;
  $("diff-stop").disabled = true;
}

function startStream() {
  stopStream();
  showError("");
  const run = state.run;
  const q = { run: run.id, seed: seedOf("diff-seed"), sampler: $("diff-sampler").value, steps: $("diff-steps").value, show: $("diff-show").value };
  if (has(run, "conditional")) {
    if ($("sample-prompt").value.trim()) q.prompt = $("sample-prompt").value.trim();
    else if (klass("sample-class") !== undefined) q.class = klass("sample-class");
    q.guidance = $("sample-guidance").value;
  }
  const es = new EventSource("/api/stream?" + new URLSearchParams(q));
  state.stream = es;
  $("diff-start").disabled = true;
  $("diff-stop").disabled = false;
  $("diff-status").textContent = "starting…";
  es.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.error) { showError(m.error); stopStream(); return; }
    if (m.image) $("diff-image").src = m.image;
    $("diff-status").textContent = m.done ? `done: ${m.step} network evaluations` : m.stopped ? "stopped" : `step ${m.step}, t = ${m.t}`;
    if (m.done || m.stopped) stopStream();
  };
  es.onerror = () => { if (state.stream === es) { $("diff-status").textContent = "stream closed"; stopStream(); } };
}

// ------------------------------------------------------------------------------------ inpainting
const mask = { drawing: false, painted: false };
function drawMaskBase() {
  const c = $("mask-canvas"), ctx = c.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, c.width, c.height);
  mask.layer = document.createElement("canvas");
  mask.layer.width = c.width; mask.layer.height = c.height;
  mask.painted = false;
  const base = new Image();
  base.onload = () => { ctx.drawImage(base, 0, 0, c.width, c.height); };
  base.src = $("enc-input").src || (state.a && state.a.input) || "";
}
function paint(ev) {
  if (!mask.drawing) return;
  const c = $("mask-canvas"), r = c.getBoundingClientRect();
  const x = (ev.clientX - r.left) * c.width / r.width, y = (ev.clientY - r.top) * c.height / r.height;
  const rad = Number($("brush").value);
  for (const ctx of [c.getContext("2d"), mask.layer.getContext("2d")]) {
    ctx.fillStyle = ctx.canvas === c ? "rgba(214,39,40,0.6)" : "#fff";
    ctx.beginPath(); ctx.arc(x, y, rad, 0, 2 * Math.PI); ctx.fill();
  }
  mask.painted = true;
}
async function inpaint() {
  if (!state.a || !mask.painted) { showError("paint the part to fill first"); return; }
  const m = document.createElement("canvas");
  m.width = mask.layer.width; m.height = mask.layer.height;
  const ctx = m.getContext("2d");
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, m.width, m.height);
  ctx.drawImage(mask.layer, 0, 0);
  const run = state.run;
  const body = { run: run.id, mask: m.toDataURL("image/png"), seed: seedOf("diff-seed") };
  if (state.a.index !== undefined) body.index = state.a.index; else body.image = state.a.input;
  if (has(run, "iterative")) body.steps = $("diff-steps").value;
  const out = await api("inpaint", body);
  $("inpaint-image").src = out.image;
}

// ------------------------------------------------------------------------------------- training
async function loadTraining() {
  const run = state.run;
  const out = await api("training", { run: run.id }, "GET");
  if (state.run !== run) return;
  state.frames = out.frames;
  const s = $("train-step");
  s.max = Math.max(0, out.frames.length - 1);
  s.value = s.max;
  showFrame();
  drawCurves(out.curves);
}
function showFrame() {
  const f = state.frames[Number($("train-step").value)];
  $("train-image").src = f ? f.image : "";
  $("train-caption").textContent = f ? `samples at step ${f.step}` : "no progress pictures";
}
function drawCurves(curves) {
  const svg = $("curves"), W = 420, H = 220, pad = 34;
  const names = Object.keys(curves).filter((k) => curves[k].length > 1);
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const text = (x, y, s, colour = "#555", anchor = "start") => {
    const t = document.createElementNS(ns, "text");
    Object.entries({ x, y, fill: colour, "font-size": 11, "text-anchor": anchor }).forEach(([k, v]) => t.setAttribute(k, v));
    t.textContent = s; svg.append(t);
  };
  if (!names.length) { text(W / 2, H / 2, "no loss records", "#888", "middle"); return; }
  const all = names.flatMap((k) => curves[k]);
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = (x) => pad + (x - x0) / ((x1 - x0) || 1) * (W - pad - 8);
  const sy = (y) => H - pad + 8 - (y - y0) / ((y1 - y0) || 1) * (H - pad - 8);
  const colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
  names.forEach((k, i) => {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", curves[k].map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", colours[i % colours.length]);
    svg.append(line);
    text(pad + 4 + i * 100, 12, k, colours[i % colours.length]);
  });
  text(pad, H - 6, `step ${x0}`); text(W - 8, H - 6, `${x1}`, "#555", "end");
  text(2, sy(y1) + 4, y1.toPrecision(3)); text(2, sy(y0), y0.toPrecision(3));
}

// ------------------------------------------------------------------------------------ wiring
function on(id, ev, fn) {
  $(id).addEventListener(ev, (e) => Promise.resolve(fn(e)).catch((err) => showError(err.message)));
}
on("run", "change", chooseRun);
on("compare", "change", () => { state.compare = state.runs.find((r) => r.id === $("compare").value && r.id !== state.run.id) || null; return Promise.all([showSamples(), interpolate()]); });
on("sample-random", "click", () => { newSeed("sample-seed"); return showSamples(); });
on("sample-go", "click", showSamples);
on("sample-seed", "change", showSamples);
on("sample-class", "change", () => { $("sample-prompt").value = ""; return showSamples(); });
on("sample-prompt", "change", showSamples);
on("sample-guidance", "input", () => { $("sample-guidance-value").textContent = $("sample-guidance").value; });
on("sliders-random", "click", () => redraw(newSeed("sliders-seed")));
on("sliders-seed", "change", () => redraw(seedOf("sliders-seed")));
on("sliders-class", "change", () => slide({ kind: "dim", dim: 0, value: state.code ? state.code[0] : 0 }));
on("interp-t", "input", interpolate);
on("interp-mode", "change", interpolate);
on("to-sliders", "click", async () => {
  if (!state.a || !state.dimInputs) return;
  const out = await api("decode", { run: state.run.id, code: state.a.code, class: state.a.klass ?? undefined, values: "yes" });
  await setImage($("slider-image"), out.image);
  showCode({ code: state.a.code, values: out.values });
  $("panel-sliders").scrollIntoView();
});
on("upload", "change", () => upload($("upload").files[0]));
on("likelihood-go", "click", likelihood);
on("diff-start", "click", startStream);
on("diff-stop", "click", stopStream);
on("inpaint-go", "click", inpaint);
on("mask-clear", "click", drawMaskBase);
on("train-step", "input", showFrame);
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); upload(e.dataTransfer.files[0]).catch((err) => showError(err.message)); });
const canvas = $("mask-canvas");
canvas.addEventListener("pointerdown", (e) => { mask.drawing = true; paint(e); });
canvas.addEventListener("pointermove", paint);
window.addEventListener("pointerup", () => { mask.drawing = false; });

// The pixels of an <img> (for the browser test: did the picture change?).
window.genzooPixels = (id) => {
  const im = $(id), c = document.createElement("canvas");
  c.width = im.naturalWidth; c.height = im.naturalHeight;
  const ctx = c.getContext("2d");
  ctx.drawImage(im, 0, 0);
  return Array.from(ctx.getImageData(0, 0, c.width, c.height).data);
};
window.genzooReady = loadRuns().then(() => true).catch((e) => { showError(e.message); return false; });
