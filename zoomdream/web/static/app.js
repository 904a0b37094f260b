// zoomdream's page: builds a job from the form, sends it to /api/jobs, and shows every
// job's progress, newest frame and result by polling /api/jobs. No libraries.
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 700;
let presets = [];
let layers = [];

async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error((await response.json()).error || response.statusText);
  return response.json();
}

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

async function loadChoices() {
  presets = await getJSON("/api/presets");
  for (const p of presets) $("preset").append(option(p.name, p.name));
  $("preset").value = presets.some((p) => p.name === "classic-zoom") ? "classic-zoom" : presets[0].name;
  showPresetNote();
  layers = await getJSON("/api/layers");
  for (const l of layers) $("layer").append(option(l.name, `${l.name} (${l.channels})`));
  $("layer").value = "inception_4c/output";
  showLayerNote();
  for (const name of await getJSON("/api/classes")) $("classes").append(option(name, ""));
}

function showPresetNote() {
  const p = presets.find((p) => p.name === $("preset").value);
  $("preset-note").textContent = p ? p.description : "";
}

function showLayerNote() {
  const l = layers.find((l) => l.name === $("layer").value);
  $("layer-note").textContent = l ? l.note : "";
}

function showObjectiveFields() {
  const kind = $("objective-kind").value;
  $("layer-field").hidden = $("layer-note").hidden = kind !== "layer";
  $("class-field").hidden = kind !== "class";
}

function setPicture(file) {
  if (!file) return;
  const transfer = new DataTransfer();
  transfer.items.add(file);
  $("image").files = transfer.files;
  const preview = $("drop-preview");
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  $("drop-text").hidden = true;
  $("clear-image").hidden = false;
}

function clearPicture() {
  $("image").value = "";
  $("drop-preview").hidden = true;
  $("drop-text").hidden = false;
  $("clear-image").hidden = true;
}

function jobRequest() {
  const overrides = {
    "video.size": $("size").value,
    "seed": Number($("seed").value),
    "dream.step_size": Number($("strength").value),
  };
  const seconds = Number($("seconds").value);
  if (seconds > 0) overrides["video.seconds"] = seconds; // (replaces a preset's video.frames)
  const kind = $("objective-kind").value;
  if (kind === "layer") overrides["layers.schedule"] = [$("layer").value];
  if (kind === "class") overrides["layers.schedule"] = ["class:" + $("class").value.trim()];
  const form = new FormData();
  form.append("preset", $("preset").value);
  form.append("overrides", JSON.stringify(overrides));
  form.append("format", seconds > 0 ? $("video-format").value : "png");
  if ($("image").files.length) form.append("image", $("image").files[0]);
  return form;
}

async function submit(event) {
  event.preventDefault();
  $("form-error").textContent = "";
  $("start").disabled = true;
  try {
    const response = await fetch("/api/jobs", { method: "POST", body: jobRequest() });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    await refresh();
  } catch (error) {
    $("form-error").textContent = error.message;
  } finally {
    $("start").disabled = false;
  }
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function describe(job) {
  if (job.state === "running") {
    const what = job.phase === "compiling" ? "compiling the dream (a first render takes a while)" : job.phase;
    const frames = job.frames_total ? ` · frame ${job.frames_done} of ${job.frames_total}` : "";
    const eta = job.eta_seconds !== null ? ` · ${duration(job.eta_seconds)} left` : "";
    return `${what}${frames} · ${Math.round(100 * job.progress)}%${eta}`;
  }
  return { queued: "waiting for the jobs before it", done: "done", failed: "failed", cancelled: "cancelled" }[job.state];
}

function settingsText(job) {
  const o = job.overrides;
  const parts = [job.preset, job.size];
  if (o["layers.schedule"]) parts.push(o["layers.schedule"].join(", "));
  parts.push(o["video.seconds"] ? `${o["video.seconds"]} s` : "still");
  if (o["dream.step_size"] !== undefined) parts.push(`strength ${o["dream.step_size"]}`);
  if (o.seed !== undefined) parts.push(`seed ${o.seed}`);
  if (job.has_image) parts.push("from your picture");
  return parts.join(" · ");
}

const cards = new Map();

function card(job) {
  let el = cards.get(job.id);
  if (!el) {
    el = $("job-template").content.firstElementChild.cloneNode(true);
    el.dataset.id = job.id;
    el.querySelector(".cancel").addEventListener("click", () => fetch(`/api/jobs/${job.id}`, { method: "DELETE" }).then(refresh));
    cards.set(job.id, el);
    $("jobs").prepend(el);
  }
  return el;
}

function show(job) {
  const el = card(job);
  el.dataset.state = job.state;
  el.querySelector(".job-title").textContent = `${job.format.toUpperCase()} · ${new Date(job.created * 1000).toLocaleTimeString()}`;
  el.querySelector(".job-state").textContent = describe(job);
  el.querySelector(".job-progress").value = job.progress;
  el.querySelector(".job-settings").textContent = settingsText(job);
  el.querySelector(".job-error").textContent = job.error || "";
  el.querySelector(".cancel").hidden = !["queued", "running"].includes(job.state);
  const latest = el.querySelector(".latest");
  const done = job.state === "done";
  if (!done && job.latest_url) {
    const src = `${job.latest_url}?frame=${job.frames_done}`;
    if (latest.dataset.src !== src) latest.src = latest.dataset.src = src;
    latest.hidden = false;
  } else {
    latest.hidden = true;
  }
  const image = el.querySelector(".result-image");
  const video = el.querySelector(".result-video");
  const link = el.querySelector(".download");
  if (done && job.result_url && link.hidden) {
    const target = job.format === "mp4" ? video : image;
    target.src = job.result_url;
    target.hidden = false;
    link.href = job.result_url;
    link.download = `zoomdream-${job.preset}.${job.format}`;
    link.textContent = `Download ${job.format.toUpperCase()}`;
    link.hidden = false;
  }
}

async function refresh() {
  try {
    for (const job of await getJSON("/api/jobs")) show(job);
  } catch (error) {
    /* the server restarting: try again at the next tick */
  }
}

function wire() {
  $("preset").addEventListener("change", showPresetNote);
  $("layer").addEventListener("change", showLayerNote);
  $("objective-kind").addEventListener("change", showObjectiveFields);
  $("strength").addEventListener("input", () => ($("strength-value").textContent = $("strength").value));
  $("image").addEventListener("change", () => setPicture($("image").files[0]));
  $("clear-image").addEventListener("click", clearPicture);
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    setPicture(e.dataTransfer.files[0]);
  });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("image").click(); });
  $("new-job").addEventListener("submit", submit);
}

wire();
loadChoices().catch((error) => ($("form-error").textContent = error.message));
refresh();
setInterval(refresh, POLL_MS);
