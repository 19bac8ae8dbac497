// The residents' verification page (served by `jura-trust serve`, docs/residents.md).
// The document is hashed here, with WebCrypto: only its hash and the receipt are sent.
// Texts come from the page's gettext catalogue (the JSON block #messages).
"use strict";

(function () {
  const MESSAGES = JSON.parse(document.getElementById("messages").textContent);
  const LANG = document.documentElement.lang || "fr";
  // WebCrypto's digests, by the name KSI gives them.
  const WEB_DIGESTS = { "SHA-1": "SHA-1", "SHA-256": "SHA-256", "SHA-384": "SHA-384", "SHA-512": "SHA-512" };

  function t(key, vars) {
    let text = MESSAGES[key] || key;
    for (const [name, value] of Object.entries(vars || {})) {
      text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // A date written out in the page's language, in Swiss time.
  function writtenDate(iso) {
    if (!iso) return "";
    const when = new Date(iso);
    if (isNaN(when.getTime())) return iso;
    return new Intl.DateTimeFormat(LANG + "-CH", {
      timeZone: "Europe/Zurich",
      weekday: "long",
      day: "numeric",
      month: "long",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      timeZoneName: "short",
    }).format(when);
  }

  function writtenDay(iso) {
    if (!iso) return "";
    const when = new Date(iso);
    if (isNaN(when.getTime())) return iso;
    return new Intl.DateTimeFormat(LANG + "-CH", {
      timeZone: "Europe/Zurich",
      day: "numeric",
      month: "long",
      year: "numeric",
    }).format(when);
  }

  function show(box, kind, title, lines, extra) {
    box.replaceChildren();
    box.className = "result " + kind;
    box.appendChild(el("h3", null, title));
    for (const line of lines) {
      if (line) box.appendChild(el("p", null, line));
    }
    if (extra) box.appendChild(extra);
    box.hidden = false;
    box.focus();
  }

  function showBusy(box, text) {
    box.replaceChildren(el("p", "pending", text));
    box.className = "result pending";
    box.hidden = false;
  }

  async function postJson(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
    return { status: response.status, body: await response.json() };
  }

  function toBase64(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }

  function toHex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // -- receipts ------------------------------------------------------------------------

  const receipt = { document: null, signature: null };

  function looksLikeReceipt(file, head) {
    // A KSI signature is TLV element 0x800: its first bytes are 0x88 0x00.
    return /\.ksig$/i.test(file.name) || (head[0] === 0x88 && head[1] === 0x00);
  }

  async function classify(files) {
    for (const file of files) {
      const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
      if (!receipt.signature && looksLikeReceipt(file, head)) receipt.signature = file;
      else receipt.document = file;
    }
  }

  function anchorText(anchor) {
    if (!anchor) return "";
    if (anchor.kind === "publication") {
      return t("anchor_publication", { date: writtenDay(anchor.publication_date) });
    }
    if (anchor.kind === "calendar-key") return t("anchor_calendar_key", { subject: anchor.subject || "" });
    if (anchor.kind === "extender") return t("anchor_extender");
    return anchor.description || "";
  }

  async function checkReceipt() {
    const box = byId("receipt-result");
    const documentFile = receipt.document || byId("document").files[0];
    const signatureFile = receipt.signature || byId("receipt-file").files[0];
    if (!documentFile || !signatureFile) {
      show(box, "problem", t("need_both"), []);
      return;
    }
    if (!window.crypto || !window.crypto.subtle) {
      show(box, "problem", t("insecure_context"), []);
      return;
    }
    showBusy(box, t("hashing"));
    const documentBytes = await documentFile.arrayBuffer();
    const signature = toBase64(await signatureFile.arrayBuffer());
    let algorithm = "SHA-256";
    for (let attempt = 0; attempt < 2; attempt++) {
      const digest = await crypto.subtle.digest(WEB_DIGESTS[algorithm], documentBytes);
      showBusy(box, t("checking"));
      let answer;
      try {
        answer = await postJson("/api/v1/verify", {
          signature: signature,
          document_hash: algorithm + ":" + toHex(digest),
        });
      } catch (err) {
        show(box, "problem", t("network"), []);
        return;
      }
      const body = answer.body;
      if (answer.status === 429 || answer.status === 503) {
        show(box, "problem", t("busy"), []);
        return;
      }
      if (answer.status !== 200) {
        const code = body.error ? body.error.code : String(answer.status);
        show(box, "invalid", t("not_a_receipt"), [t("code", { code: code })]);
        return;
      }
      const wanted = body.document_hash_algorithm;
      if (body.code === "GEN-04" && wanted && wanted !== algorithm) {
        if (!(wanted in WEB_DIGESTS)) {
          show(box, "problem", t("algorithm_unsupported", { algorithm: wanted }), [
            t("code", { code: body.code }),
          ]);
          return;
        }
        algorithm = wanted;
        continue;
      }
      showReceipt(box, body);
      return;
    }
  }

  function showReceipt(box, body) {
    if (body.valid) {
      const office = (body.issuer || []).join(" / ");
      show(box, "valid", t("intact_title"), [
        t("intact_text", { date: writtenDate(body.aggregation_time) }),
        office ? t("received_by", { office: office }) : "",
        t("rests_on", { anchor: anchorText(body.anchor) }),
      ]);
    } else if (body.code === "GEN-01") {
      show(box, "invalid", t("altered_title"), [t("altered_text"), t("code", { code: body.code })]);
    } else if (body.outcome === "FAIL") {
      show(box, "invalid", t("receipt_invalid_title"), [
        t("receipt_invalid_text"),
        t("code", { code: body.code }),
      ]);
    } else {
      show(box, "problem", t("receipt_na_title"), [t("receipt_na_text"), t("code", { code: body.code })]);
    }
  }

  function setUpReceipt() {
    byId("receipt-form").addEventListener("submit", (event) => {
      event.preventDefault();
      receipt.document = null;
      receipt.signature = null;
      checkReceipt();
    });
    const drop = byId("drop");
    for (const name of ["dragenter", "dragover"]) {
      drop.addEventListener(name, (event) => {
        event.preventDefault();
        drop.classList.add("over");
      });
    }
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", async (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      receipt.document = null;
      receipt.signature = null;
      await classify(Array.from(event.dataTransfer.files));
      if (receipt.document && receipt.signature) checkReceipt();
      else show(byId("receipt-result"), "problem", t("need_both"), []);
    });
  }

  // -- certificates --------------------------------------------------------------------

  function fieldList(fields) {
    const list = el("dl", "fields");
    for (const [name, value] of Object.entries(fields || {})) {
      list.appendChild(el("dt", null, name));
      list.appendChild(el("dd", null, value === null ? "" : String(value)));
    }
    return list;
  }

  function showCertificate(answer) {
    const box = byId("certificate-result");
    if (answer.status === 429 || answer.status === 503) {
      show(box, "problem", t("busy"), []);
      return;
    }
    const body = answer.body;
    if (answer.status !== 200) {
      const code = body.error ? body.error.code : String(answer.status);
      show(box, "problem", t("problem_unreadable"), [t("code", { code: code })]);
      return;
    }
    if (body.valid) {
      const wrap = el("div");
      wrap.appendChild(el("h4", null, t("fields_title")));
      wrap.appendChild(fieldList(body.fields));
      show(
        box,
        "valid",
        t("valid_title"),
        [
          t("valid_issuer", { issuer: body.issuer ? body.issuer.name : "" }),
          t("valid_time", { date: writtenDate(body.ksi_time) }),
          body.valid_until ? t("valid_until", { date: writtenDay(body.valid_until) }) : "",
        ],
        wrap
      );
      return;
    }
    const problem = body.problem || "not-verifiable";
    const title = problem === "not-verifiable" ? t("na_title") : t("invalid_title");
    show(box, problem === "not-verifiable" ? "problem" : "invalid", title, [
      t("problem_" + problem),
      t("no_fields"),
      t("code", { code: body.code }),
    ]);
  }

  async function checkText(text, pending) {
    const box = byId("certificate-result");
    showBusy(box, pending || t("checking"));
    try {
      showCertificate(await postJson("/api/v1/verify-qr", { text: text }));
    } catch (err) {
      show(box, "problem", t("network"), []);
    }
  }

  async function checkPhoto(file) {
    const box = byId("certificate-result");
    showBusy(box, t("checking"));
    try {
      const response = await fetch("/api/v1/verify-qr-image", {
        method: "POST",
        headers: { "Content-Type": /^image\//.test(file.type) ? file.type : "image/unknown" },
        body: file,
        credentials: "omit",
        cache: "no-store",
      });
      showCertificate({ status: response.status, body: await response.json() });
    } catch (err) {
      show(box, "problem", t("network"), []);
    }
  }

  // The camera: BarcodeDetector where the browser has it, else the vendored jsQR.
  const camera = { stream: null, timer: null };

  function loadJsQR() {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/jsQR.js";
      script.onload = () => resolve(window.jsQR);
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  async function makeDetector() {
    if ("BarcodeDetector" in window) {
      try {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.includes("qr_code")) {
          const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
          return async (video) => {
            const codes = await detector.detect(video);
            return codes.length ? codes[0].rawValue : null;
          };
        }
      } catch (err) {
        // fall through to jsQR
      }
    }
    const jsQR = await loadJsQR();
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    return async (video) => {
      const width = video.videoWidth;
      const height = video.videoHeight;
      if (!width || !height) return null;
      canvas.width = width;
      canvas.height = height;
      context.drawImage(video, 0, 0, width, height);
      const image = context.getImageData(0, 0, width, height);
      const code = jsQR(image.data, width, height, { inversionAttempts: "attemptBoth" });
      return code ? code.data : null;
    };
  }

  function stopCamera() {
    if (camera.timer) clearTimeout(camera.timer);
    camera.timer = null;
    if (camera.stream) for (const track of camera.stream.getTracks()) track.stop();
    camera.stream = null;
    const video = byId("camera-video");
    video.srcObject = null;
    video.hidden = true;
    byId("camera-stop").hidden = true;
    byId("camera-start").hidden = false;
  }

  async function startCamera() {
    const status = byId("camera-status");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = t("camera_unavailable");
      return;
    }
    let detect;
    try {
      camera.stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" },
        audio: false,
      });
      detect = await makeDetector();
    } catch (err) {
      stopCamera();
      status.textContent = t("camera_unavailable");
      return;
    }
    const video = byId("camera-video");
    video.srcObject = camera.stream;
    video.hidden = false;
    byId("camera-start").hidden = true;
    byId("camera-stop").hidden = false;
    byId("camera-stop").focus();
    await video.play();
    status.textContent = t("camera_looking");
    const scan = async () => {
      if (!camera.stream) return;
      let text = null;
      try {
        text = await detect(video);
      } catch (err) {
        text = null;
      }
      if (text) {
        status.textContent = t("camera_found");
        stopCamera();
        checkText(text);
        return;
      }
      camera.timer = setTimeout(scan, 150);
    };
    scan();
  }

  // A link certificate: the code's text is this page's address, the certificate
  // in the fragment (after #), which the browser never sends to any server.
  function checkFragment() {
    const fragment = window.location.hash.slice(1);
    if (!fragment) return;
    let text = fragment;
    try {
      text = decodeURIComponent(fragment);
    } catch (err) {
      text = fragment;
    }
    if (!/^(JT1|HC1):/.test(text)) {
      // The digit-only link form: the service reads the whole link as printed.
      text = window.location.origin + window.location.pathname + "#" + fragment;
    }
    byId("certificate").scrollIntoView();
    checkText(text, t("link_checking"));
  }

  function setUpCertificate() {
    byId("camera-start").addEventListener("click", startCamera);
    byId("camera-stop").addEventListener("click", stopCamera);
    byId("photo").addEventListener("change", (event) => {
      const file = event.target.files[0];
      if (file) checkPhoto(file);
    });
    byId("text-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = byId("qr-text").value.trim();
      if (text) checkText(text);
    });
    window.addEventListener("hashchange", checkFragment);
    checkFragment();
  }

  setUpReceipt();
  setUpCertificate();
})();
