/**
 * The v86 page: boot the Debian guest with freehint's balloon, then run hint rounds and watch
 * them clear the dirty bitmap. The first round runs as soon as the guest is up.
 */
import { fetchManifest } from './guest-assets.js';
import { HeatMap, LEGEND } from './heat-map.js';
import { HintRounds, type Round } from './hint-rounds.js';
import { PageMap, PageState } from './page-map.js';
import { BrowserGuest, GUEST_MEMORY } from './v86-guest.js';

function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the page has no #${id}`);
  return found;
}

const buttons = {
  boot: byId('boot', HTMLButtonElement),
  round: byId('round', HTMLButtonElement),
  churn: byId('churn', HTMLButtonElement),
  done: byId('done', HTMLButtonElement),
};
const status = byId('status', HTMLParagraphElement);
const summary = byId('round-summary', HTMLParagraphElement);
const roundRows = byId('rounds', HTMLTableElement).tBodies[0]!;
const consoleBox = byId('console', HTMLPreElement);

/** RAM in v86's PC: below the VGA/BIOS hole, and from 1 MiB up. */
const isRam = (gpa: number): boolean => gpa < 0xa0000 || gpa >= 0x100000;
const map = new PageMap(GUEST_MEMORY, isRam);
const heat = new HeatMap(byId('heat-map', HTMLCanvasElement), map);

const MiB = 2 ** 20;
const count = (n: number): string => n.toLocaleString('en-US');

byId('legend', HTMLElement).replaceChildren(
  ...LEGEND.map(({ colour, label }) => {
    const line = document.createElement('div');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colour;
    line.append(swatch, label);
    return line;
  }),
);

function describe(round: Round): string {
  const hinted = `${(round.hintedBytes / MiB).toFixed(0)} MiB in ${count(round.blocks)} blocks`;
  if (round.ms === undefined) return `Round ${round.index} running: ${hinted} hinted so far…`;
  return `Round ${round.index} (command id 0x${round.cmdId.toString(16)}) done: ${hinted} hinted in ${(round.ms / 1000).toFixed(1)} s; ${count(round.clearedPages)} of ${count(round.dirtyAtSync)} dirty pages cleared, ${count(map.count(PageState.Dirty))} left to send.`;
}

function showRounds(rounds: readonly Round[]): void {
  roundRows.replaceChildren(
    ...rounds.map((r) => {
      const row = roundRows.insertRow();
      const cells = [
        String(r.index),
        `0x${r.cmdId.toString(16)}`,
        count(r.dirtyAtSync),
        count(r.blocks),
        `${(r.hintedBytes / MiB).toFixed(0)} MiB`,
        count(r.clearedPages),
        r.ms === undefined ? '…' : `${(r.ms / 1000).toFixed(1)} s`,
      ];
      for (const [i, text] of cells.entries()) {
        const cell = row.insertCell();
        cell.textContent = text;
        if (i !== 1) cell.className = 'num';
      }
      return row;
    }),
  );
  const last = rounds.at(-1);
  summary.textContent = last ? describe(last) : '';
  document.body.dataset['rounds'] = String(rounds.filter((r) => r.ms !== undefined).length);
}

/** The console's last lines, redrawn at most once a frame. */
let consolePending = false;
function showConsole(guest: BrowserGuest): void {
  if (consolePending) return;
  consolePending = true;
  requestAnimationFrame(() => {
    consolePending = false;
    consoleBox.textContent = guest.console.replace(/\r/g, '').split('\n').slice(-200).join('\n');
    consoleBox.scrollTop = consoleBox.scrollHeight;
  });
}

function setBusy(busy: boolean): void {
  buttons.round.disabled = busy;
  buttons.churn.disabled = busy;
  buttons.done.disabled = busy;
}

async function hintRound(rounds: HintRounds): Promise<void> {
  setBusy(true);
  status.textContent = 'Syncing the bitmap, then waiting for the driver’s hints…';
  try {
    await rounds.run();
    status.textContent = 'The guest runs. Run another round, or change its memory first.';
  } catch (error) {
    status.textContent = `The round failed: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    setBusy(false);
  }
}

async function boot(): Promise<void> {
  buttons.boot.disabled = true;
  status.textContent = 'Booting: SeaBIOS, then the kernel, then /init loads the virtio modules…';
  const started = performance.now();
  const guest = await BrowserGuest.boot();
  guest.onOutput(() => showConsole(guest));
  guest.device.errors$.subscribe((error) => (status.textContent = `The device needs a reset: ${error.message}`));
  await guest.until(() => guest.ready);
  const bootSeconds = ((performance.now() - started) / 1000).toFixed(0);
  document.body.dataset['bootSeconds'] = bootSeconds;
  status.textContent = `Booted in ${bootSeconds} s. First hint round…`;
  const rounds = new HintRounds(
    guest.device,
    map,
    () => guest.ram,
    () => {
      heat.draw();
      showRounds(rounds.rounds);
    },
  );
  buttons.round.onclick = () => void hintRound(rounds);
  buttons.done.onclick = () => {
    rounds.done();
    status.textContent = 'DONE: the driver gives its held blocks back to the guest.';
  };
  buttons.churn.onclick = async () => {
    setBusy(true);
    status.textContent = 'Writing 32 MiB of random data to a tmpfs file, then deleting it…';
    // busybox has no mountpoint(1): /proc/mounts says whether the tmpfs is there already.
    const exit = await guest.run("mkdir -p /mnt/t && (grep -q ' /mnt/t ' /proc/mounts || mount -t tmpfs tmpfs /mnt/t) && dd if=/dev/urandom of=/mnt/t/f bs=1M count=32 2>/dev/null && rm /mnt/t/f");
    status.textContent = exit === 0 ? 'Written and freed: the next sync finds those pages dirty, and their blocks free to hint.' : `The command failed (exit ${exit}).`;
    setBusy(false);
  };
  await hintRound(rounds);
}

async function start(): Promise<void> {
  const manifest = await fetchManifest();
  if (manifest === undefined || !manifest.available) {
    byId('assets-missing', HTMLElement).hidden = false;
    byId('guest', HTMLElement).hidden = true;
    byId('cache-dir', HTMLElement).textContent = manifest?.cacheDir ?? '.cache/linux-guest (this server does not serve it: use npm run explore)';
    return;
  }
  status.textContent = `Ready to boot: ${manifest.packages?.split('\n').join(', ') ?? 'the cached guest'}.`;
  buttons.boot.disabled = false;
  buttons.boot.onclick = () => void boot().catch((error: unknown) => (status.textContent = `Boot failed: ${error instanceof Error ? error.message : String(error)}`));
}

void start();
