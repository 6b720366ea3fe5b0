"use strict";

const PALETTE = ["#6d28d9", "#0ea5e9", "#f59e0b", "#ec4899", "#10b981",
                 "#ef4444", "#334155", "#a855f7", "#84cc16", "#f97316",
                 "#14b8a6", "#6366f1"];
const $ = (id) => document.getElementById(id);
let labels = [];
let minSeconds = 0;

const color = (genre) => PALETTE[Math.max(0, labels.indexOf(genre)) % PALETTE.length];
const clock = (t) => (t < 60 ? `${t} s` : `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, "0")}`);
const pct = (p) => `${(100 * p).toFixed(p >= 0.1 ? 0 : 1)}%`;

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function status(message, kind = "") {
  const box = $("status");
  box.className = `status ${kind}`;
  box.replaceChildren();
  if (kind === "busy") box.append(el("span", { class: "spinner" }));
  if (message) box.append(el("span", {}, message));
}

async function loadModel() {
  try {
    const info = await (await fetch("/v1/models")).json();
    const model = info.models[0];
    labels = model.labels;
    minSeconds = model.min_s;
    $("model").textContent = `${model.id} · ${labels.length} genres`;
    $("hint").textContent = `Tracks need at least ${minSeconds} s; the first ${Math.round(info.limits.max_audio_s / 60)} min are analysed.`;
  } catch {
    $("model").textContent = "model unavailable";
  }
}

async function analyse(blob, name) {
  $("player").src = URL.createObjectURL(blob);
  $("player").hidden = false;
  status(`Analysing ${name}…`, "busy");
  const form = new FormData();
  form.append("file", blob, name);
  try {
    const response = await fetch("/v1/classify?spectrogram=true", { method: "POST", body: form });
    const data = await response.json();
    if (!response.ok) {
      status(data.error || `request failed (${response.status})`, "error");
      return;
    }
    render(data);
    status(`Done in ${(data.elapsed_ms / 1000).toFixed(1)} s${data.truncated ? " (first part analysed)" : ""}.`);
  } catch (err) {
    status(`Could not reach the server: ${err.message}`, "error");
  }
}

function render(data) {
  $("results").hidden = false;
  $("genre").textContent = data.genre;
  $("file-name").textContent = data.path;
  $("confidence").textContent = pct(data.confidence);
  $("ring").style.setProperty("--p", (100 * data.confidence).toFixed(1));
  renderBars(data);
  renderTags(data.tags);
  const order = Object.keys(data.probabilities).sort((a, b) => data.probabilities[b] - data.probabilities[a]);
  renderTimeline(data.windows, data.analysed_s, order);
  $("spectrogram").src = data.spectrogram_png ? `data:image/png;base64,${data.spectrogram_png}` : "";
  $("results").scrollIntoView({ behavior: "smooth", block: "start" });
}

function renderBars(data) {
  const ranked = Object.entries(data.probabilities).sort((a, b) => b[1] - a[1]);
  const top = ranked[0][1] || 1;
  const list = $("bars");
  list.replaceChildren();
  for (const [genre, p] of ranked) {
    const item = el("li", genre === data.genre ? { class: "best" } : {});
    const fill = el("div", { class: "fill" });
    fill.style.background = color(genre);
    const track = el("div", { class: "track" });
    track.append(fill);
    item.append(el("span", {}, genre), track, el("span", { class: "pct" }, pct(p)));
    list.append(item);
    requestAnimationFrame(() => requestAnimationFrame(() => { fill.style.width = `${(100 * p) / top}%`; }));
  }
}

function renderTags(tags) {
  $("tags-wrap").hidden = !tags || !tags.length;
  const box = $("tags");
  box.replaceChildren();
  for (const { tag, score } of tags || []) {
    const chip = el("span", { class: "tag" }, tag);
    chip.append(el("b", {}, pct(score)));
    box.append(chip);
  }
}

function renderTimeline(windows, seconds, order) {
  const W = $("timeline").clientWidth || 600, H = 130, top = 6, bottom = 22;
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
                            "aria-label": "genre probabilities over time" });
  const end = Math.max(seconds, ...windows.map((w) => w.end)) || 1;
  const x = (t) => (t / end) * W;
  const used = new Set();
  // One stacking order for every window (the track's ranking, best at the bottom) so each
  // genre reads as a continuous band; the end-aligned last window is drawn over its neighbour.
  for (const w of windows) {
    let y = H - bottom;
    for (const genre of order) {
      const p = w.probabilities[genre] || 0;
      const h = p * (H - top - bottom);
      const rect = svg("rect", { x: x(w.start), y: y - h, width: Math.max(1, x(w.end) - x(w.start) - 1),
                                 height: h, fill: color(genre) });
      rect.append(svg("title"));
      rect.firstChild.textContent = `${w.start.toFixed(0)}–${w.end.toFixed(0)} s · ${genre} ${pct(p)}`;
      plot.append(rect);
      if (p >= 0.05) used.add(genre);
      y -= h;
    }
  }
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => end / s <= 6) || 1200;
  for (let t = 0; t <= end + 1e-9; t += step) {
    const label = svg("text", { x: Math.min(Math.max(x(t), 12), W - 14), y: H - 6, class: "axis",
                                "text-anchor": "middle" });
    label.textContent = clock(t);
    plot.append(label);
  }
  $("timeline").replaceChildren(plot);
  $("timeline-note").textContent = windows.length === 1 ? "· one window" : `· ${windows.length} windows`;
  const legend = $("legend");
  legend.replaceChildren();
  for (const genre of labels.filter((g) => used.has(g))) {
    const item = el("span", {}, genre);
    const swatch = el("i");
    swatch.style.background = color(genre);
    item.prepend(swatch);
    legend.append(item);
  }
}

function setupDrop() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) analyse(file, file.name);
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => {
    const file = e.dataTransfer.files[0];
    if (file) analyse(file, file.name);
  });
}

function setupRecorder() {
  const button = $("rec");
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    button.disabled = true;
    $("rec-time").textContent = "recording unsupported";
    return;
  }
  let recorder = null;
  let timer = null;
  button.addEventListener("click", async () => {
    if (recorder) {
      recorder.stop();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      status(`Microphone unavailable: ${err.message}`, "error");
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.onstop = () => {
      clearInterval(timer);
      stream.getTracks().forEach((t) => t.stop());
      button.classList.remove("live");
      $("rec-label").textContent = "Record";
      const type = recorder.mimeType || "audio/webm";
      const ext = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
      recorder = null;
      analyse(new Blob(chunks, { type }), `recording.${ext}`);
    };
    const started = Date.now();
    timer = setInterval(() => {
      const s = (Date.now() - started) / 1000;
      $("rec-time").textContent = `${s.toFixed(0)} s${s < minSeconds ? ` · need ${minSeconds} s` : ""}`;
    }, 250);
    recorder.start();
    button.classList.add("live");
    $("rec-label").textContent = "Stop";
  });
}

loadModel();
setupDrop();
setupRecorder();
