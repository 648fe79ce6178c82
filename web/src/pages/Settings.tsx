/** Settings: a group's settings, VMs and disks; tokens; pairing. Changing anything needs an admin token. */
import { useState } from "react";
import { Notice, Section } from "../components/ui";
import { useLive } from "../state/live";
import { can } from "../state/session";
import { CreateGroupForm, GroupSettingsForm } from "./settings/GroupSettings";
import { Pairing } from "./settings/Pairing";
import { Tokens } from "./settings/Tokens";
import { VmSettings } from "./settings/VmSettings";

export function Settings() {
  const { session, groups } = useLive();
  const admin = can(session.role, "admin");
  const [chosen, setChosen] = useState<string>("");
  const g = groups?.find((x) => x.name === chosen) ?? groups?.[0];
  return (
    <main className="page" aria-labelledby="settings-h">
      <h1 id="settings-h">Settings</h1>
      {admin ? null : <Notice tone="idle">Your token has the {session.role} role: settings are shown read-only; changing them needs an admin token.</Notice>}
      <Section
        title="Protection groups"
        id="group-settings"
        actions={
          groups && groups.length > 0 ? (
            <label className="inline">
              Group{" "}
              <select value={g?.name ?? ""} onChange={(e) => setChosen(e.target.value)}>
                {groups.map((x) => (
                  <option key={x.name}>{x.name}</option>
                ))}
              </select>
            </label>
          ) : null
        }
      >
        {admin ? <CreateGroupForm /> : null}
        {g ? (
          <>
            <h3>Settings of {g.name}</h3>
            <GroupSettingsForm key={g.name} g={g} canEdit={admin} />
            <h3>VMs and disks of {g.name}</h3>
            <VmSettings key={`vms-${g.name}`} g={g} canEdit={admin} />
          </>
        ) : (
          <p className="muted">No groups yet.</p>
        )}
      </Section>
      {admin ? (
        <>
          <Section title="API tokens" id="tokens">
            <Tokens />
          </Section>
          <Section title="Pairing" id="pairing">
            <Pairing />
          </Section>
        </>
      ) : null}
    </main>
  );
}
