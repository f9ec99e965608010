// Drives the UI in chromium, checking what each page shows and saving a screenshot of each.
//   node ui.js BASE_URL USERNAME PASSWORD OUT_DIR OTHER_TENANT_NAME
//     a customer user walks environments, releases and notes the way a validation lead would;
//   node ui.js journey BASE_URL OUT_DIR CUSTOMER_ADMIN PASSWORD PM PM_PASSWORD
//     the VAL cycle: the customer admin files a VAL request (first with a wrong field), the PM
//     approves it with the signature dialog, the provisioning run completes, the customer files
//     a finding, the PM resolves it, the customer admin signs off.
//   node ui.js upgrade BASE_URL OUT_DIR CUSTOMER_ADMIN PASSWORD PM PM_PASSWORD DAY1 DAY2
//     a PROD upgrade: the customer admin fills the slot picker (a DST gap refused live, then
//     by the server), files two slots on DAY1 and DAY2; the PM opens the scheduling page
//     (heatmap, conflicts, week calendar) and books slot 1, overriding the unvalidated build.
// Exits non-zero with a message on the first failed check.
const { chromium } = require('playwright-core');

const mode = process.argv[2];
const [base, username, password, out, otherTenant] = process.argv.slice(2);

function check(cond, what) {
  if (!cond) {
    throw new Error(`check failed: ${what}`);
  }
  console.log(`ok: ${what}`);
}

function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

async function walk() {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/releases`);
    check(page.url().includes('/login?next='), 'an anonymous visit lands on the sign-in page');
    await page.fill('#username', username);
    await page.fill('#password', 'wrong password');
    await page.click('button[type=submit]');
    check(await page.isVisible('text=Unknown username or wrong password.'), 'a wrong password is refused');
    await page.fill('#password', password);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/releases`);
    check(true, 'signing in returns to the page asked for');
    await page.screenshot({ path: `${out}/releases.png`, fullPage: true });

    await page.click('nav >> text=Environments');
    await page.waitForSelector('h1:has-text("Environments")');
    const home = await page.textContent('main');
    check(home.includes('PROD-MAIN') && home.includes('PROD-TEST'), 'the own PROD pair is listed');
    check(!home.includes(otherTenant), 'no other tenant is visible');
    await page.screenshot({ path: `${out}/environments.png`, fullPage: true });

    await page.click('nav >> text=Release notes');
    await page.selectOption('#from', '24.1.0.1042');
    await page.selectOption('#to', '24.3.0.1300');
    await page.click('button:has-text("Show")');
    const frame = page.frameLocator('iframe[title="release notes"]');
    await frame.locator('h2:has-text("Needs your validation")').waitFor();
    const notes = await frame.locator('body').textContent();
    check(notes.includes('APP-3199') && notes.includes('APP-3301'), 'the cumulative notes list hotfix and feature items');
    check(notes.includes('not covered by the vendor'), 'the configuration-items reminder is shown');
    await page.screenshot({ path: `${out}/notes.png`, fullPage: true });

    const href = await page.getAttribute('a:has-text("PDF")', 'href');
    const resp = await page.request.get(`${base}${href}`);
    const body = await resp.body();
    check(resp.ok() && body.subarray(0, 5).toString() === '%PDF-', 'the PDF link downloads with the session');
    require('fs').writeFileSync(`${out}/notes.pdf`, body);

    await page.click('button:has-text("Sign out")');
    await page.goto(`${base}/`);
    check(page.url().includes('/login'), 'after signing out the pages ask to sign in again');
  } finally {
    await browser.close();
  }
}

function isoDay(offset) {
  const d = new Date(Date.now() + offset * 86400000);
  return d.toISOString().slice(0, 10);
}

async function journey(base, out, customer, customerPassword, pm, pmPassword) {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const signIn = async (user, pass, next) => {
      await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
      await page.fill('#username', user);
      await page.fill('#password', pass);
      await page.click('button[type=submit]');
      await page.waitForURL(`${base}${next}`);
    };
    const signOut = async () => {
      await page.click('button:has-text("Sign out")');
      await page.waitForURL(/\/login/);
    };

    // The customer admin files a VAL request; a date in the past is refused under its field.
    await signIn(customer, customerPassword, '/requests');
    await page.click('text=New VAL request');
    await page.waitForSelector('h1:has-text("New VAL request")');
    await page.selectOption('#pair', { index: 1 });
    await page.selectOption('#build', '24.3.0.1300');
    await page.fill('#begin', '2020-01-01');
    await page.fill('#end', isoDay(60));
    await page.fill('#purpose', 'Validation of 24.3 before the PROD upgrade');
    await page.click('button:has-text("File VAL request")');
    await page.waitForSelector('#begin-error');
    const beginError = await page.textContent('#begin-error');
    check(beginError.includes('in the past')
      && await page.inputValue('#purpose') === 'Validation of 24.3 before the PROD upgrade'
      && await page.inputValue('#build') === '24.3.0.1300',
      'a wrong field is shown under the field, with the typed values kept');
    await page.screenshot({ path: `${out}/request-new-errors.png`, fullPage: true });
    await page.fill('#begin', isoDay(7));
    await page.click('button:has-text("File VAL request")');
    await page.waitForURL(`${base}/requests/VAL-1`);
    check((await page.textContent('#request-state')).includes('submitted'), 'the customer admin filed VAL-1');
    await page.screenshot({ path: `${out}/request-filed.png`, fullPage: true });
    await signOut();

    // The PM approves it, e-signed: the dialog shows the record and asks for the password.
    await signIn(pm, pmPassword, '/requests/VAL-1');
    await page.click('text=Approve (e-sign)');
    await page.waitForSelector('h1:has-text("Electronic signature")');
    const sha = (await page.textContent('#record-sha')).trim();
    check(/^[0-9a-f]{64}$/.test(sha) && (await page.textContent('#statement')).includes('I approve this record.'),
      'the signature dialog shows the record, its hash and the meaning');
    await page.screenshot({ path: `${out}/sign-dialog.png`, fullPage: true });
    await page.fill('#sign-password', 'not my password');
    await page.click('button:has-text("Sign: approved")');
    check(await page.isVisible('text=nothing was signed'), 'a wrong password signs nothing');
    await page.fill('#sign-password', pmPassword);
    await page.click('button:has-text("Sign: approved")');
    await page.waitForURL(`${base}/requests/VAL-1#signatures`);
    const sigs = await page.textContent('aside');
    check(sigs.includes('Pat Example-PM') && sigs.includes('I approve this record.'),
      'the PM approved VAL-1 with an e-signature');
    await page.screenshot({ path: `${out}/request-approved.png`, fullPage: true });

    // The steps table follows the run's server-sent events. The events are stubbed here so
    // that the renderer is checked on its own (escaping, durations, states).
    const events = `${base}/api/v1/requests/VAL-1/events`;
    await page.route(events, (route) => route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
      body: `event: run\ndata: ${JSON.stringify({
        id: 'stub', state: 'running', error: null,
        steps: [
          { seq: 1, name: 'clone', env: 'MAIN', state: 'done', attempts: 1, duration_ms: 1500, log: 'copied <volunteers> & events' },
          { seq: 2, name: 'clone', env: 'TEST', state: 'running', attempts: 2, duration_ms: null, log: '' },
        ],
      })}\n\n`,
    }));
    await page.goto(`${base}/requests/VAL-1`);
    await page.waitForSelector('#steps tr[data-seq="2"] .pill.state-running');
    const first = await page.textContent('#steps tr[data-seq="1"]');
    check(first.includes('1.5 s') && first.includes('copied <volunteers> & events')
      && (await page.$$('#steps tbody tr')).length === 2
      && await page.textContent('#run-state') === 'running',
      'the steps table is re-rendered from the run events');
    await page.unroute(events);

    // The run: the page follows it live; reload until the VAL pair is provisioned (≤ 120 s).
    const deadline = Date.now() + 120000;
    for (;;) {
      let state = '';
      let run = '';
      try {
        await page.goto(`${base}/requests/VAL-1`);
        state = await page.textContent('#request-state');
        run = await page.$('#run-state') ? await page.textContent('#run-state') : '';
        if (await page.isVisible('text=VAL pair provisioned')) break;
      } catch (e) {
        // The page reloads itself when the run's state changes; a read that races that
        // reload loses its document. Read again on the next round.
        if (!/context|navigat|destroyed|detached/i.test(String(e))) throw e;
        await page.waitForTimeout(500);
        continue;
      }
      if (run.includes('failed')) {
        throw new Error(`check failed: the provisioning run failed: ${await page.textContent('#run-card')}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`check failed: the provisioning run did not finish in 120 s (request ${state.trim()}, run ${run.trim()})`);
      }
      await page.waitForTimeout(2000);
    }
    check(true, 'the provisioning run succeeded');
    await page.screenshot({ path: `${out}/request-provisioned.png`, fullPage: true });
    await signOut();

    // The customer files a finding.
    await signIn(customer, customerPassword, '/requests/VAL-1');
    await page.click('summary:has-text("File a finding")');
    await page.fill('#finding-title', 'Dashboard "Screening" shows no data');
    await page.selectOption('#finding-severity', 'major');
    await page.selectOption('#finding-area', 'configuration_item');
    await page.fill('#finding-steps', 'Open the Screening dashboard. Expected: this week\'s visits. Actual: empty.');
    await page.click('button:has-text("File finding")');
    await page.waitForSelector('#finding-F-1');
    check((await page.textContent('#finding-F-1')).includes('open'), 'the customer filed finding F-1');
    check(!(await page.isVisible('text=Sign off validation')), 'sign-off waits for the open finding');
    await signOut();

    // The PM resolves it.
    await signIn(pm, pmPassword, '/requests/VAL-1');
    await page.fill('#resolve-F-1', 'Dashboard filter fixed in the VAL configuration');
    await page.click('#finding-F-1 button:has-text("Resolve")');
    await page.waitForSelector('#finding-F-1 .pill.state-resolved');
    check(true, 'the PM resolved F-1');
    await signOut();

    // The customer admin signs off, e-signed.
    await signIn(customer, customerPassword, '/requests/VAL-1');
    await page.click('text=Sign off validation');
    await page.waitForSelector('h1:has-text("Electronic signature")');
    check((await page.textContent('#statement')).includes('validation of this record is complete'), 'the sign-off dialog states its meaning');
    await page.fill('#sign-password', customerPassword);
    await page.click('button:has-text("Sign: validated")');
    await page.waitForURL(`${base}/requests/VAL-1#signatures`);
    check(await page.isVisible('text=validation signed off'), 'the customer admin signed off VAL-1');
    await page.screenshot({ path: `${out}/request-signed-off.png`, fullPage: true });
  } finally {
    await browser.close();
  }
}

async function upgrade(base, out, customer, customerPassword, pm, pmPassword, day1, day2) {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const signIn = async (user, pass, next) => {
      await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
      await page.fill('#username', user);
      await page.fill('#password', pass);
      await page.click('button[type=submit]');
      await page.waitForURL(`${base}${next}`);
    };
    const signOut = async () => {
      await page.click('button:has-text("Sign out")');
      await page.waitForURL(/\/login/);
    };
    const slot = async (n, date, start, end, zone) => {
      await page.fill(`#slot-${n}-date`, date);
      await page.fill(`#slot-${n}-start`, start);
      await page.fill(`#slot-${n}-end`, end);
      await page.fill(`#slot-${n}-zone`, zone);
      await page.press(`#slot-${n}-zone`, 'Tab');
    };

    // The customer admin types a slot in the hour Chicago skips: refused as it is typed.
    await signIn(customer, customerPassword, '/requests');
    await page.click('text=New upgrade request');
    await page.waitForSelector('h1:has-text("New PROD upgrade request")');
    check(await page.getAttribute('#build', 'placeholder') === 'validated build'
      && await page.inputValue('#slot-1-zone') === 'Europe/Berlin',
      'the form offers the validated build and the customer\'s zone by default');
    await page.selectOption('#pair', { index: 1 });
    await page.fill('#build', '24.3.0.1300');
    await slot(1, '2027-03-14', '02:30', '03:30', 'America/Chicago');
    await page.waitForSelector('#slot-1-check .error');
    const gap = await page.textContent('#slot-1-check');
    check(gap.includes('does not exist in America/Chicago'), 'the DST gap is shown live under the slot');
    await page.screenshot({ path: `${out}/upgrade-dst-gap.png`, fullPage: true });

    // Submitted anyway (and without the downtime): the server says the same, under the fields.
    await page.click('button:has-text("File upgrade request")');
    await page.waitForSelector('#downtime_minutes-error');
    check((await page.textContent('#slot-1-error')).includes('does not exist')
      && await page.inputValue('#build') === '24.3.0.1300'
      && await page.inputValue('#slot-1-zone') === 'America/Chicago',
      'the server refuses the gap and a missing downtime under their fields, keeping what was typed');
    await page.screenshot({ path: `${out}/upgrade-new-errors.png`, fullPage: true });

    // Fixed: two slots five weeks ahead in Berlin time.
    await page.fill('#downtime_minutes', '90');
    await slot(1, day1, '12:00', '13:00', 'Europe/Berlin');
    await page.waitForSelector('#slot-1-check dl.times');
    await page.waitForFunction(() => !document.querySelector('#slot-1-check .error'));
    const ok1 = await page.textContent('#slot-1-check');
    check(ok1.includes('UTC') && ok1.includes('Europe/Berlin') && ok1.includes('of notice (at least'),
      'a valid slot shows the viewer\'s zone, UTC and the notice');
    if (!(await page.$('#slot-2-date'))) await page.click('#add-slot');
    // The hour Berlin repeats: accepted with both instants; an abbreviation: read with a warning.
    await slot(2, '2027-10-31', '02:30', '03:30', 'Europe/Berlin');
    await page.waitForSelector('#slot-2-check [data-code="dst_overlap"] li:nth-child(2)');
    await page.fill('#slot-2-zone', 'CET');
    await page.waitForSelector('#slot-2-check [data-code="abbreviation"]');
    check((await page.textContent('#slot-2-check [data-code="abbreviation"]')).includes('Europe/Berlin'),
      'a DST overlap shows both instants and an abbreviation names the zone it was read as');
    await page.screenshot({ path: `${out}/upgrade-overlap.png`, fullPage: true });
    await slot(2, day2, '14:00', '15:00', 'Europe/Berlin');
    await page.waitForFunction(() => !document.querySelector('#slot-2-check .warnbox[data-code]'));
    await page.waitForSelector('#slot-2-check dl.times');
    await page.check('input[name=preferred][value="1"]');
    await page.screenshot({ path: `${out}/upgrade-new-valid.png`, fullPage: true });
    await page.click('button:has-text("File upgrade request")');
    await page.waitForURL(/\/requests\/UPG-\d+$/);
    const key = page.url().split('/').pop();
    const rows = await page.$$('#upgrade-slots tr');
    check(key === 'UPG-1' && rows.length === 3 && await page.isVisible('#build-override'),
      'the customer admin filed UPG-1 with two slots');
    await page.screenshot({ path: `${out}/upgrade-filed.png`, fullPage: true });
    await signOut();

    // The PM assesses: heatmap, conflicts, calendar.
    await signIn(pm, pmPassword, `/requests/${key}`);
    await page.click('#schedule-link');
    await page.waitForSelector('h1:has-text("Schedule")');
    const loaded = await page.isVisible('#heatmap svg rect');
    const activityError = await page.$('#activity-error') ? await page.textContent('#activity-error') : '';
    const svg = await page.request.get(`${base}/api/v1/quiet?request=${key}&format=svg`);
    check(loaded && svg.ok() && (await svg.text()).includes('<svg')
      && await page.isVisible('#assessment .conflict.blocking[data-kind="unvalidated_build"]')
      && await page.isVisible('#calendar .ev.preferred')
      && await page.isVisible('#calendar .ev.blackout'),
      `the scheduling page shows the heatmap, the assessment and the build conflict${activityError ? ` (${activityError})` : ''}`);
    await page.screenshot({ path: `${out}/upgrade-schedule.png`, fullPage: true });
    await page.click('#show-alternatives');
    await page.waitForSelector('h3:has-text("Quieter alternatives")');
    const alternatives = (await page.$$('#alternatives tr')).length - 1;
    const firstAlt = (await page.textContent('#alternatives tr:nth-child(2)')).match(/\b(\d\d:\d\d)–/)[1];
    check(alternatives > 0 && await page.isVisible('#choice-a1')
      && (await page.textContent('#heatmap svg')).includes(`alternative 1 · ${(await page.textContent('#alternatives tr:nth-child(2) td:nth-child(2)')).slice(0, 3)} ${firstAlt}`),
      `alternatives are offered in the booking form (${alternatives})`);
    await page.screenshot({ path: `${out}/upgrade-alternatives.png`, fullPage: true });

    // Booking without overriding the conflict is refused (409) and says what to do.
    await page.check('#choice-1');
    await page.selectOption('#book-engineer', 'eve.engineer');
    await page.click('#book-form button[type=submit]');
    await page.waitForSelector('#schedule-error');
    check((await page.textContent('#schedule-error')).includes('cannot be booked'),
      'booking without the override is refused with the conflict');

    await page.check('#choice-1');
    await page.selectOption('#book-engineer', 'eve.engineer');
    await page.check('#override-unvalidated_build');
    await page.fill('#reason-unvalidated_build', '24.3 was validated on the twin site; customer agreed');
    await page.fill('#book-password', pmPassword);
    await page.click('#book-form button[type=submit]');
    await page.waitForURL(new RegExp(`/requests/${key}#upgrade$`));
    const booking = await page.textContent('#booking');
    check(booking.includes('Eve Engineer') && booking.includes('SEQUENCE 0')
      && booking.includes('unvalidated build') && booking.includes('I approve this record.') && (await page.textContent('#request-state')).includes('scheduled'),
      'the PM booked slot 1 for Eve Engineer, overriding the build e-signed');
    await page.screenshot({ path: `${out}/upgrade-booked.png`, fullPage: true });
    const ics = await page.request.get(`${base}${await page.getAttribute('#ics-link', 'href')}`);
    const icsText = await ics.text();
    check(ics.ok() && icsText.includes('BEGIN:VCALENDAR') && icsText.includes('SEQUENCE:0'),
      'the .ics downloads with the session');

    await page.click('nav >> text=Schedule');
    await page.waitForSelector('h1:has-text("Upgrade schedule")');
    check((await page.textContent('main')).includes(key), 'the schedule overview lists UPG-1');
    await page.screenshot({ path: `${out}/schedule-overview.png`, fullPage: true });
  } finally {
    await browser.close();
  }
}

const modes = { journey, upgrade };
(modes[mode] ? modes[mode](...process.argv.slice(3)) : walk()).catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
