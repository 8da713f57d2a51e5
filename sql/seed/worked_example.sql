-- The worked example of DESIGN.md: the organizations, officials, posts and role changes of the
-- news item about the Russia–Ukraine talks (Peskov's briefing reported by Anadolu Agency,
-- Umerov's removal as Minister of Defence, the dropped idea of sending him to Washington).
-- Fixed ids so the contract's examples and the tests can name records. Loaded once per database
-- (service/seed.py records it in `seeds`); idempotent all the same: running it again changes
-- nothing. Dates are as precise as the public record is; where it is vague the precision says
-- so. Each fact cites its source (the citations at the end).

insert into organizations (id, name, kind, parent_id, country_code, other_names, note) values
('0193a0a0-0000-7000-8000-000000000001', 'Russia', 'state', null, 'RU',
 '[{"name": "Russian Federation", "lang": "en"}, {"name": "Россия", "lang": "ru"},
   {"name": "Российская Федерация", "lang": "ru"}]', null),
('0193a0a0-0000-7000-8000-000000000002', 'Ukraine', 'state', null, 'UA',
 '[{"name": "Україна", "lang": "uk"}, {"name": "Украина", "lang": "ru"}]', null),
('0193a0a0-0000-7000-8000-000000000003', 'United States', 'state', null, 'US',
 '[{"name": "United States of America", "lang": "en"}, {"name": "U.S.", "lang": "en"},
   {"name": "США", "lang": "ru"}, {"name": "Сполучені Штати Америки", "lang": "uk"}]',
 'Mediator of the direct Russia–Ukraine negotiations.'),
('0193a0a0-0000-7000-8000-000000000004', 'Türkiye', 'state', null, 'TR',
 '[{"name": "Turkey", "lang": "en"}, {"name": "Türkiye Cumhuriyeti", "lang": "tr"}]',
 'Host of the Istanbul rounds.'),
('0193a0a0-0000-7000-8000-000000000005', 'Presidential Executive Office of Russia', 'agency',
 '0193a0a0-0000-7000-8000-000000000001', 'RU',
 '[{"name": "Kremlin", "lang": "en"},
   {"name": "Администрация Президента Российской Федерации", "lang": "ru"}]', null),
('0193a0a0-0000-7000-8000-000000000006', 'Ministry of Defence of Ukraine', 'ministry',
 '0193a0a0-0000-7000-8000-000000000002', 'UA',
 '[{"name": "Міністерство оборони України", "lang": "uk"}]', null),
('0193a0a0-0000-7000-8000-000000000007', 'Embassy of Ukraine in the United States', 'other',
 '0193a0a0-0000-7000-8000-000000000002', 'UA',
 '[{"name": "Посольство України в США", "lang": "uk"}]', null),
('0193a0a0-0000-7000-8000-000000000008', 'National Security and Defense Council of Ukraine',
 'agency', '0193a0a0-0000-7000-8000-000000000002', 'UA',
 '[{"name": "Рада національної безпеки і оборони України", "lang": "uk"},
   {"name": "NSDC", "lang": "en"}, {"name": "РНБО", "lang": "uk"}]', null),
('0193a0a0-0000-7000-8000-000000000009',
 'Coordination Headquarters for the Treatment of Prisoners of War', 'agency',
 '0193a0a0-0000-7000-8000-000000000002', 'UA',
 '[{"name": "Координаційний штаб з питань поводження з військовополоненими", "lang": "uk"}]',
 'Received the 1,000 bodies; told Ukrainska Pravda the handover was not related to the Istanbul agreements.'),
('0193a0a0-0000-7000-8000-00000000000a', 'Anadolu Agency', 'media_outlet',
 '0193a0a0-0000-7000-8000-000000000004', 'TR',
 '[{"name": "Anadolu Ajansı", "lang": "tr"}, {"name": "AA", "lang": "en"}]',
 'Reported Peskov''s press briefing.'),
('0193a0a0-0000-7000-8000-00000000000b', 'Ukrainska Pravda', 'media_outlet',
 '0193a0a0-0000-7000-8000-000000000002', 'UA',
 '[{"name": "Українська правда", "lang": "uk"}]', null)
on conflict (id) do nothing;

insert into officials (id, name, other_names, nationality_id, note) values
('0193a0a1-0000-7000-8000-000000000001', 'Vladimir Medinsky',
 '[{"name": "Владимир Ростиславович Мединский", "lang": "ru"},
   {"name": "Vladimir Medinskiy", "lang": "ru-Latn"},
   {"name": "Volodymyr Medinsky", "lang": "uk-Latn"},
   {"name": "Wladimir Medinski", "lang": "de"}]',
 '0193a0a0-0000-7000-8000-000000000001',
 'Head of the Russian delegation at the direct talks with Ukraine; said on Telegram the 1,000-body handover was "in continuation of the Istanbul agreements".'),
('0193a0a1-0000-7000-8000-000000000002', 'Rustem Umerov',
 '[{"name": "Рустем Умєров", "lang": "uk"}, {"name": "Рустем Умеров", "lang": "ru"},
   {"name": "Rustem Ümerov", "lang": "crh"}]',
 '0193a0a0-0000-7000-8000-000000000002',
 'Head of the Ukrainian delegation at the direct talks with Russia.'),
('0193a0a1-0000-7000-8000-000000000003', 'Dmitry Peskov',
 '[{"name": "Дмитрий Сергеевич Песков", "lang": "ru"},
   {"name": "Dmitriy Peskov", "lang": "ru-Latn"}, {"name": "Dmitri Peskov", "lang": "en"}]',
 '0193a0a0-0000-7000-8000-000000000001',
 'Kremlin spokesman; at his press briefing (reported by Anadolu Agency) said Russia awaits Ukraine''s proposals to begin a third round.'),
('0193a0a1-0000-7000-8000-000000000004', 'Denys Shmyhal',
 '[{"name": "Денис Шмигаль", "lang": "uk"}, {"name": "Denis Shmygal", "lang": "ru-Latn"}]',
 '0193a0a0-0000-7000-8000-000000000002', 'Succeeded Umerov as Minister of Defence.'),
('0193a0a1-0000-7000-8000-000000000005', 'Oleksii Reznikov',
 '[{"name": "Олексій Резніков", "lang": "uk"}, {"name": "Aleksei Reznikov", "lang": "ru-Latn"}]',
 '0193a0a0-0000-7000-8000-000000000002', 'Umerov''s predecessor as Minister of Defence.')
on conflict (id) do nothing;

insert into posts (id, title, organization_id, single_holder, note) values
('0193a0a2-0000-7000-8000-000000000001', 'Minister of Defence of Ukraine',
 '0193a0a0-0000-7000-8000-000000000006', true, null),
('0193a0a2-0000-7000-8000-000000000002', 'Ambassador of Ukraine to the United States',
 '0193a0a0-0000-7000-8000-000000000007', true, null),
('0193a0a2-0000-7000-8000-000000000003', 'Press Secretary of the President of Russia',
 '0193a0a0-0000-7000-8000-000000000005', true, 'The Kremlin spokesman.'),
('0193a0a2-0000-7000-8000-000000000004', 'Aide to the President of Russia',
 '0193a0a0-0000-7000-8000-000000000005', false, 'Several aides serve at once.'),
('0193a0a2-0000-7000-8000-000000000005', 'Secretary of the National Security and Defense Council of Ukraine',
 '0193a0a0-0000-7000-8000-000000000008', true, null)
on conflict (id) do nothing;

insert into role_changes (id, official_id, post_id, kind, status, effective_date,
                          effective_precision, announced_date, announced_precision, note) values
-- Reznikov: appointed by the Verkhovna Rada on 4 November 2021, dismissed on 5 September 2023.
('0193a0a3-0000-7000-8000-000000000001', '0193a0a1-0000-7000-8000-000000000005',
 '0193a0a2-0000-7000-8000-000000000001', 'appointment', 'effective', '2021-11-04', 'day',
 null, null, null),
('0193a0a3-0000-7000-8000-000000000002', '0193a0a1-0000-7000-8000-000000000005',
 '0193a0a2-0000-7000-8000-000000000001', 'dismissal', 'effective', '2023-09-05', 'day',
 null, null, null),
-- Umerov: appointed on 6 September 2023, removed on 17 July 2025.
('0193a0a3-0000-7000-8000-000000000003', '0193a0a1-0000-7000-8000-000000000002',
 '0193a0a2-0000-7000-8000-000000000001', 'appointment', 'effective', '2023-09-06', 'day',
 null, null, null),
('0193a0a3-0000-7000-8000-000000000004', '0193a0a1-0000-7000-8000-000000000002',
 '0193a0a2-0000-7000-8000-000000000001', 'dismissal', 'effective', '2025-07-17', 'day',
 null, null, 'Removed as Minister of Defence in the July 2025 government reshuffle.'),
-- The idea of Umerov as ambassador to the U.S. was floated in July 2025 and dropped.
('0193a0a3-0000-7000-8000-000000000005', '0193a0a1-0000-7000-8000-000000000002',
 '0193a0a2-0000-7000-8000-000000000002', 'nomination', 'withdrawn', null, null,
 '2025-07-01', 'month', 'Proposed, then dropped; he never took the post.'),
-- Umerov then became NSDC secretary (month precision: the decree's exact day is not in the example).
('0193a0a3-0000-7000-8000-000000000006', '0193a0a1-0000-7000-8000-000000000002',
 '0193a0a2-0000-7000-8000-000000000005', 'appointment', 'effective', '2025-07-01', 'month',
 null, null, null),
-- Shmyhal: appointed Minister of Defence by the Verkhovna Rada on 17 July 2025.
('0193a0a3-0000-7000-8000-000000000007', '0193a0a1-0000-7000-8000-000000000004',
 '0193a0a2-0000-7000-8000-000000000001', 'appointment', 'effective', '2025-07-17', 'day',
 null, null, null),
-- Peskov: Press Secretary of the President since May 2012.
('0193a0a3-0000-7000-8000-000000000008', '0193a0a1-0000-7000-8000-000000000003',
 '0193a0a2-0000-7000-8000-000000000003', 'appointment', 'effective', '2012-05-22', 'day',
 null, null, null),
-- Medinsky: Aide to the President since January 2020.
('0193a0a3-0000-7000-8000-000000000009', '0193a0a1-0000-7000-8000-000000000001',
 '0193a0a2-0000-7000-8000-000000000004', 'appointment', 'effective', '2020-01-01', 'month',
 null, null, null)
on conflict (id) do nothing;

-- The negotiation part of the news item: the direct Russia–Ukraine talks hosted in Istanbul,
-- which the Kremlin describes as held with U.S. mediation; two rounds held (16 May and
-- 2 June 2025) with Medinsky and Umerov heading the delegations; a third round awaited, to
-- discuss the draft memoranda the parties exchanged; the humanitarian agreements of Istanbul.
insert into negotiations (id, title, status, start_date, start_precision, note) values
('0193a0a4-0000-7000-8000-000000000001', 'Russia–Ukraine direct talks in Istanbul', 'active',
 '2025-05-16', 'day',
 'The first direct talks between the two since spring 2022; held at the level of the heads of delegations.')
on conflict (id) do nothing;

insert into negotiation_parties (negotiation_id, position, organization_id) values
('0193a0a4-0000-7000-8000-000000000001', 1, '0193a0a0-0000-7000-8000-000000000001'),
('0193a0a4-0000-7000-8000-000000000001', 2, '0193a0a0-0000-7000-8000-000000000002')
on conflict do nothing;

insert into negotiation_mediators (negotiation_id, position, organization_id, role) values
('0193a0a4-0000-7000-8000-000000000001', 1, '0193a0a0-0000-7000-8000-000000000003', 'mediator'),
('0193a0a4-0000-7000-8000-000000000001', 2, '0193a0a0-0000-7000-8000-000000000004', 'host')
on conflict do nothing;

insert into rounds (id, negotiation_id, ordinal, status, venue_city, venue_country_code,
                    venue_place, start_date, start_precision, end_date, end_precision,
                    outcome, note) values
('0193a0a5-0000-7000-8000-000000000001', '0193a0a4-0000-7000-8000-000000000001', 1, 'held',
 'Istanbul', 'TR', 'Dolmabahçe Palace', '2025-05-16', 'day', '2025-05-16', 'day',
 'Agreed to exchange 1,000 prisoners of war for 1,000, and that each side would set out its vision of a ceasefire in detail.',
 null),
('0193a0a5-0000-7000-8000-000000000002', '0193a0a4-0000-7000-8000-000000000001', 2, 'held',
 'Istanbul', 'TR', 'Çırağan Palace', '2025-06-02', 'day', '2025-06-02', 'day',
 'The parties exchanged draft memoranda; agreed to exchange severely wounded, seriously ill and young prisoners of war and to hand over the bodies of fallen soldiers.',
 null),
('0193a0a5-0000-7000-8000-000000000003', '0193a0a4-0000-7000-8000-000000000001', 3, 'awaited',
 null, null, null, null, null, null, null, null,
 'Russia awaits Ukraine''s proposals to begin it (Peskov''s press briefing, reported by Anadolu Agency); the parties are to discuss the draft memoranda they exchanged, following procedures agreed in Istanbul. No date or venue set.')
on conflict (id) do nothing;

insert into delegations (id, negotiation_id, party_id, name) values
('0193a0a6-0000-7000-8000-000000000001', '0193a0a4-0000-7000-8000-000000000001',
 '0193a0a0-0000-7000-8000-000000000001', 'Delegation of Russia'),
('0193a0a6-0000-7000-8000-000000000002', '0193a0a4-0000-7000-8000-000000000001',
 '0193a0a0-0000-7000-8000-000000000002', 'Delegation of Ukraine')
on conflict (id) do nothing;

-- Both heads since the first round, still heads (their period stays open).
insert into delegation_members (delegation_id, position, official_id, role, from_round_id) values
('0193a0a6-0000-7000-8000-000000000001', 1, '0193a0a1-0000-7000-8000-000000000001', 'head',
 '0193a0a5-0000-7000-8000-000000000001'),
('0193a0a6-0000-7000-8000-000000000002', 1, '0193a0a1-0000-7000-8000-000000000002', 'head',
 '0193a0a5-0000-7000-8000-000000000001')
on conflict do nothing;

insert into round_mediators (round_id, position, organization_id) values
('0193a0a5-0000-7000-8000-000000000001', 1, '0193a0a0-0000-7000-8000-000000000004'),
('0193a0a5-0000-7000-8000-000000000002', 1, '0193a0a0-0000-7000-8000-000000000004')
on conflict do nothing;

insert into round_delegations (round_id, position, delegation_id) values
('0193a0a5-0000-7000-8000-000000000001', 1, '0193a0a6-0000-7000-8000-000000000001'),
('0193a0a5-0000-7000-8000-000000000001', 2, '0193a0a6-0000-7000-8000-000000000002'),
('0193a0a5-0000-7000-8000-000000000002', 1, '0193a0a6-0000-7000-8000-000000000001'),
('0193a0a5-0000-7000-8000-000000000002', 2, '0193a0a6-0000-7000-8000-000000000002')
on conflict do nothing;

insert into memoranda (id, negotiation_id, author_id, title, status, exchanged_round_id, note) values
('0193a0a7-0000-7000-8000-000000000001', '0193a0a4-0000-7000-8000-000000000001',
 '0193a0a0-0000-7000-8000-000000000001', 'Russia''s draft memorandum on a settlement',
 'exchanged', '0193a0a5-0000-7000-8000-000000000002', null),
('0193a0a7-0000-7000-8000-000000000002', '0193a0a4-0000-7000-8000-000000000001',
 '0193a0a0-0000-7000-8000-000000000002', 'Ukraine''s draft memorandum on a settlement',
 'exchanged', '0193a0a5-0000-7000-8000-000000000002', null)
on conflict (id) do nothing;

-- Russia handed its draft over at the second round; the day Ukraine's reached the Russian
-- side is not in the worked example, so its version is dated to the year only.
insert into memorandum_versions (memorandum_id, number, version_date, version_precision, summary) values
('0193a0a7-0000-7000-8000-000000000001', 1, '2025-06-02', 'day',
 'Russia''s conditions for a ceasefire and the steps towards a settlement, handed to the Ukrainian delegation at the second round.'),
('0193a0a7-0000-7000-8000-000000000002', 1, '2025-01-01', 'year',
 'Ukraine''s proposals for a ceasefire and the steps towards a settlement.')
on conflict do nothing;

insert into round_agenda (round_id, position, memorandum_id, item) values
('0193a0a5-0000-7000-8000-000000000003', 1, '0193a0a7-0000-7000-8000-000000000001', null),
('0193a0a5-0000-7000-8000-000000000003', 2, '0193a0a7-0000-7000-8000-000000000002', null),
('0193a0a5-0000-7000-8000-000000000003', 3, null, 'Procedures agreed in Istanbul')
on conflict do nothing;

-- The Istanbul humanitarian agreements.
insert into agreements (id, round_id, title, kind, stage, agreed_date, agreed_precision, terms) values
('0193a0a8-0000-7000-8000-000000000001', '0193a0a5-0000-7000-8000-000000000001',
 'Exchange of 1,000 prisoners of war for 1,000', 'humanitarian', 'pre_negotiation',
 '2025-05-16', 'day', 'Each side releases 1,000 prisoners of war.'),
('0193a0a8-0000-7000-8000-000000000002', '0193a0a5-0000-7000-8000-000000000002',
 'Exchange of severely wounded, seriously ill and young prisoners of war', 'humanitarian',
 'pre_negotiation', '2025-06-02', 'day',
 'All severely wounded and seriously ill prisoners of war, and all aged 18 to 25, to be exchanged.'),
('0193a0a8-0000-7000-8000-000000000003', '0193a0a5-0000-7000-8000-000000000002',
 'Return of the bodies of fallen soldiers', 'humanitarian', 'pre_negotiation',
 '2025-06-02', 'day', 'Each side to hand over the bodies of 6,000 fallen soldiers.')
on conflict (id) do nothing;

insert into agreement_signatories (agreement_id, position, organization_id) values
('0193a0a8-0000-7000-8000-000000000001', 1, '0193a0a0-0000-7000-8000-000000000001'),
('0193a0a8-0000-7000-8000-000000000001', 2, '0193a0a0-0000-7000-8000-000000000002'),
('0193a0a8-0000-7000-8000-000000000002', 1, '0193a0a0-0000-7000-8000-000000000001'),
('0193a0a8-0000-7000-8000-000000000002', 2, '0193a0a0-0000-7000-8000-000000000002'),
('0193a0a8-0000-7000-8000-000000000003', 1, '0193a0a0-0000-7000-8000-000000000001'),
('0193a0a8-0000-7000-8000-000000000003', 2, '0193a0a0-0000-7000-8000-000000000002')
on conflict do nothing;

-- The evidence part: the three sources of the news item, the statements they report, the
-- humanitarian exchanges, and the two claims that contradict each other about whether the
-- 1,000-body handover falls under the Istanbul agreements. The worked example gives no URLs
-- or headlines, so sources have descriptive titles and no URL; quotes are in the English
-- of the example (the original Russian and Ukrainian wording is not in it).
insert into sources (id, title, outlet_id, official_id, language, published_date,
                     published_precision, note) values
('0193a0aa-0000-7000-8000-000000000001', 'Report on Dmitry Peskov''s press briefing',
 '0193a0a0-0000-7000-8000-00000000000a', null, 'en', '2025-07-01', 'month', null),
('0193a0aa-0000-7000-8000-000000000002',
 'Report on the repatriation of 1,000 bodies, citing the Coordination Headquarters',
 '0193a0a0-0000-7000-8000-00000000000b', null, 'uk', '2025-07-01', 'month', null),
('0193a0aa-0000-7000-8000-000000000003',
 'Vladimir Medinsky''s Telegram post on the handover of 1,000 bodies', null,
 '0193a0a1-0000-7000-8000-000000000001', 'ru', '2025-07-01', 'month', null)
on conflict (id) do nothing;

insert into statements (id, speaker_official_id, speaker_organization_id, statement_date,
                        statement_precision, occasion, quote, language, note) values
('0193a0ab-0000-7000-8000-000000000001', '0193a0a1-0000-7000-8000-000000000003', null,
 '2025-07-01', 'month', 'press_briefing',
 'Russia conducts direct negotiations with Ukraine, with U.S. mediation, at the level of the heads of delegations, and awaits Ukraine''s proposals to begin a third round, where the parties will discuss the draft memoranda they exchanged.',
 'en', 'As reported by Anadolu Agency; a paraphrase, not his exact words.'),
('0193a0ab-0000-7000-8000-000000000002', '0193a0a1-0000-7000-8000-000000000001', null,
 '2025-07-01', 'month', 'telegram_post',
 'The handover of the bodies is in continuation of the Istanbul agreements.', 'en',
 'English wording of the worked example.'),
('0193a0ab-0000-7000-8000-000000000003', null, '0193a0a0-0000-7000-8000-000000000009',
 '2025-07-01', 'month', 'interview',
 'The repatriation of the 1,000 bodies is not related to the Istanbul agreements.', 'en',
 'Told to Ukrainska Pravda; English wording of the worked example.')
on conflict (id) do nothing;

-- 5,000 bodies in four deliveries under the agreement of round 2. The example gives only the
-- total, so each delivery carries an equal share marked as an estimate, and the month.
insert into exchanges (id, kind, exchange_date, exchange_precision, from_party_id, to_party_id,
                       quantity, quantity_estimated, series, batch_number, agreement_id, note) values
('0193a0a9-0000-7000-8000-000000000001', 'repatriation_of_bodies', '2025-06-01', 'month',
 '0193a0a0-0000-7000-8000-000000000001', '0193a0a0-0000-7000-8000-000000000002', 1250, true,
 'Repatriation of bodies under the Istanbul agreements', 1,
 '0193a0a8-0000-7000-8000-000000000003', 'Share of the 5,000 bodies received in four deliveries.'),
('0193a0a9-0000-7000-8000-000000000002', 'repatriation_of_bodies', '2025-06-01', 'month',
 '0193a0a0-0000-7000-8000-000000000001', '0193a0a0-0000-7000-8000-000000000002', 1250, true,
 'Repatriation of bodies under the Istanbul agreements', 2,
 '0193a0a8-0000-7000-8000-000000000003', 'Share of the 5,000 bodies received in four deliveries.'),
('0193a0a9-0000-7000-8000-000000000003', 'repatriation_of_bodies', '2025-06-01', 'month',
 '0193a0a0-0000-7000-8000-000000000001', '0193a0a0-0000-7000-8000-000000000002', 1250, true,
 'Repatriation of bodies under the Istanbul agreements', 3,
 '0193a0a8-0000-7000-8000-000000000003', 'Share of the 5,000 bodies received in four deliveries.'),
('0193a0a9-0000-7000-8000-000000000004', 'repatriation_of_bodies', '2025-06-01', 'month',
 '0193a0a0-0000-7000-8000-000000000001', '0193a0a0-0000-7000-8000-000000000002', 1250, true,
 'Repatriation of bodies under the Istanbul agreements', 4,
 '0193a0a8-0000-7000-8000-000000000003', 'Share of the 5,000 bodies received in four deliveries.'),
-- The further 1,000: which agreement, if any, it falls under is disputed (see its claims).
('0193a0a9-0000-7000-8000-000000000005', 'repatriation_of_bodies', '2025-07-01', 'month',
 '0193a0a0-0000-7000-8000-000000000001', '0193a0a0-0000-7000-8000-000000000002', 1000, false,
 null, null, null, 'Received by the Coordination Headquarters for the Treatment of Prisoners of War.')
on conflict (id) do nothing;

insert into statement_subjects (statement_id, position, record_id) values
('0193a0ab-0000-7000-8000-000000000001', 1, '0193a0a4-0000-7000-8000-000000000001'),
('0193a0ab-0000-7000-8000-000000000001', 2, '0193a0a5-0000-7000-8000-000000000003'),
('0193a0ab-0000-7000-8000-000000000002', 1, '0193a0a9-0000-7000-8000-000000000005'),
('0193a0ab-0000-7000-8000-000000000003', 1, '0193a0a9-0000-7000-8000-000000000005')
on conflict do nothing;

insert into claims (id, subject_id, predicate, object_id, claimant_official_id,
                    claimant_organization_id, stance, statement_id) values
('0193a0ac-0000-7000-8000-000000000001', '0193a0a9-0000-7000-8000-000000000005',
 'falls_under_agreement', '0193a0a8-0000-7000-8000-000000000003',
 '0193a0a1-0000-7000-8000-000000000001', null, 'affirms', '0193a0ab-0000-7000-8000-000000000002'),
('0193a0ac-0000-7000-8000-000000000002', '0193a0a9-0000-7000-8000-000000000005',
 'falls_under_agreement', '0193a0a8-0000-7000-8000-000000000003',
 null, '0193a0a0-0000-7000-8000-000000000009', 'denies', '0193a0ab-0000-7000-8000-000000000003')
on conflict (id) do nothing;

insert into citations (record_id, position, source_id, quote) values
('0193a0ab-0000-7000-8000-000000000001', 1, '0193a0aa-0000-7000-8000-000000000001', null),
('0193a0ab-0000-7000-8000-000000000002', 1, '0193a0aa-0000-7000-8000-000000000003', null),
('0193a0ab-0000-7000-8000-000000000003', 1, '0193a0aa-0000-7000-8000-000000000002', null),
('0193a0ac-0000-7000-8000-000000000001', 1, '0193a0aa-0000-7000-8000-000000000003',
 'in continuation of the Istanbul agreements'),
('0193a0ac-0000-7000-8000-000000000002', 1, '0193a0aa-0000-7000-8000-000000000002',
 'not related to the Istanbul agreements'),
('0193a0a9-0000-7000-8000-000000000005', 1, '0193a0aa-0000-7000-8000-000000000002', null),
('0193a0a9-0000-7000-8000-000000000001', 1, '0193a0aa-0000-7000-8000-000000000002',
 '5,000 bodies received earlier in four deliveries'),
('0193a0a9-0000-7000-8000-000000000002', 1, '0193a0aa-0000-7000-8000-000000000002',
 '5,000 bodies received earlier in four deliveries'),
('0193a0a9-0000-7000-8000-000000000003', 1, '0193a0aa-0000-7000-8000-000000000002',
 '5,000 bodies received earlier in four deliveries'),
('0193a0a9-0000-7000-8000-000000000004', 1, '0193a0aa-0000-7000-8000-000000000002',
 '5,000 bodies received earlier in four deliveries'),
('0193a0a3-0000-7000-8000-000000000004', 1, '0193a0aa-0000-7000-8000-000000000001', null),
('0193a0a5-0000-7000-8000-000000000003', 1, '0193a0aa-0000-7000-8000-000000000001',
 'awaits Ukraine''s proposals to begin a third round')
on conflict do nothing;
