"""What ``certutil -store`` prints in each display language, as data.

Windows prints certutil's labels and messages in the system's display language; the field
names ``NotBefore`` / ``NotAfter``, the store names and the key-provider names stay
English. Each :class:`Language` maps the English text certward's parser reads (the key) to
what that language prints (one or more spellings); :func:`to_english` rewrites one line of
a localised dump into the English line, so one parser reads them all.

Where the spellings come from (``tests/interop/fixtures/SOURCES.md`` has the URLs):

* French: the record header, ``Numéro de série``, ``Émetteur``, ``Objet``, ``Modèle``,
  ``Hach. cert. (sha1)``, ``Certificat racine``, ``Version de l’autorité de
  certification``, ``La signature correspond à la clé publique``, ``Aucune information sur
  le fournisseur de clé`` and ``Impossible de trouver le certificat et la clé privée pour
  le déchiffrement.`` are copied from real ``certutil -store root`` output (SaltStack);
  French puts a (non-breaking) space before the colon.
* German: ``Zertifikat N``, ``Aussteller``, ``Antragsteller``, ``Seriennummer`` and
  ``Zertifikathash(sha1)`` as other projects' certutil readers match them.
* Russian: ``Сертификат N``, ``Серийный номер`` and ``Хеш сертификата(sha1)`` as scripts
  reading real Russian certutil dumps match them (with ``NotBefore`` / ``NotAfter`` left
  in English).
* The other German and Russian lines, and the French key-test and exportability lines, are
  Windows' translations as far as they could be checked without a real dump; a dump that
  prints another spelling still reads, without the fact that line carries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["LANGUAGES", "Language", "known_label", "language_of", "normalise", "to_english"]

# "Label: value" labels the parser reads (and a few it skips, so they are not "unknown").
LABELS = (
    "Serial Number",
    "Issuer",
    "Subject",
    "NotBefore",
    "NotAfter",
    "Cert Hash(sha1)",
    "Cert Hash(sha256)",
    "Template",
    "Root Certificate",
    "CA Version",
    "Public Key Length",
    "Unique container name",
    "Simple container name",
)
# "Label = value" lines of the key-provider block.
KEY_LABELS = ("Key Container", "Provider")
# Whole lines.
LINES = (
    "Encryption test passed",
    "Signature test passed",
    "No key provider information",
    "Cannot find the certificate and private key for decryption.",
    "Missing stored keyset",
    "Private key is NOT exportable",
    "Private key is NOT plain text exportable",
    "Non-root Certificate",
    "Signature matches Public Key",
    "Archived!",
)


@dataclass(frozen=True, slots=True)
class Language:
    """One display language of certutil: English text → the spellings it prints."""

    code: str  # "fr", as a name in messages
    record: str  # the record header's word: "Certificat" in "==== Certificat 0 ===="
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    key_labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lines: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    completed: str = "completed successfully"  # in "CertUtil: -store command …"
    # Reverse tables, normalised spelling → English; from the three above.
    _labels: dict[str, str] = field(init=False, repr=False, compare=False)
    _key_labels: dict[str, str] = field(init=False, repr=False, compare=False)
    _lines: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def reverse(table: Mapping[str, tuple[str, ...]], known: tuple[str, ...]) -> dict[str, str]:
            unknown = set(table) - set(known)
            assert not unknown, f"{self.code}: not an English label the parser reads: {unknown}"
            result = {normalise(english): english for english in known}
            for english, spellings in table.items():
                result.update({normalise(spelling): english for spelling in spellings})
            return result

        object.__setattr__(self, "_labels", reverse(self.labels, LABELS))
        object.__setattr__(self, "_key_labels", reverse(self.key_labels, KEY_LABELS))
        object.__setattr__(self, "_lines", reverse(self.lines, LINES))

    def label(self, text: str) -> str | None:
        return self._labels.get(normalise(text))

    def key_label(self, text: str) -> str | None:
        return self._key_labels.get(normalise(text))

    def line(self, text: str) -> str | None:
        return self._lines.get(normalise(text))


_SPACES = re.compile(r"[\s\u00a0\u202f]+")


def normalise(text: str) -> str:
    """Spelling as compared: blanks (non-breaking ones too) folded, typographic
    apostrophes as ASCII, case ignored."""
    return _SPACES.sub(" ", text.replace("\u2019", "'")).strip().casefold()


ENGLISH = Language(code="en", record="Certificate")

FRENCH = Language(
    code="fr",
    record="Certificat",
    labels={
        "Serial Number": ("Numéro de série",),
        "Issuer": ("Émetteur",),
        "Subject": ("Objet",),
        "Cert Hash(sha1)": ("Hach. cert. (sha1)",),
        "Cert Hash(sha256)": ("Hach. cert. (sha256)",),
        "Template": ("Modèle",),
        "Root Certificate": ("Certificat racine",),
        "CA Version": ("Version de l’autorité de certification",),
        "Public Key Length": ("Longueur de la clé publique",),
        "Unique container name": ("Nom de conteneur unique",),
        "Simple container name": ("Nom de conteneur simple",),
    },
    key_labels={"Key Container": ("Conteneur de clé",), "Provider": ("Fournisseur",)},
    lines={
        "Signature matches Public Key": ("La signature correspond à la clé publique",),
        "No key provider information": ("Aucune information sur le fournisseur de clé",),
        "Cannot find the certificate and private key for decryption.": (
            "Impossible de trouver le certificat et la clé privée pour le déchiffrement.",
        ),
        "Encryption test passed": ("Test de chiffrement réussi",),
        "Signature test passed": ("Test de signature réussi",),
        "Missing stored keyset": ("Jeu de clés stocké manquant",),
        "Private key is NOT exportable": ("La clé privée n’est PAS exportable",),
        "Private key is NOT plain text exportable": (
            "La clé privée n’est PAS exportable en texte brut",
        ),
        "Non-root Certificate": ("Il ne s’agit pas d’un certificat racine",),
        "Archived!": ("Archivé !",),
    },
    completed="terminée correctement",
)

GERMAN = Language(
    code="de",
    record="Zertifikat",
    labels={
        "Serial Number": ("Seriennummer",),
        "Issuer": ("Aussteller",),
        "Subject": ("Antragsteller",),
        "NotBefore": ("Nicht vor",),
        "NotAfter": ("Nicht nach",),
        "Cert Hash(sha1)": ("Zertifikathash(sha1)",),
        "Cert Hash(sha256)": ("Zertifikathash(sha256)",),
        "Template": ("Vorlage",),
        "Root Certificate": ("Stammzertifikat",),
        "CA Version": ("Zertifizierungsstellenversion",),
        "Public Key Length": ("Länge des öffentlichen Schlüssels",),
        "Unique container name": ("Eindeutiger Containername",),
        "Simple container name": ("Einfacher Containername",),
    },
    key_labels={"Key Container": ("Schlüsselcontainer",), "Provider": ("Anbieter",)},
    lines={
        "Signature matches Public Key": ("Signatur stimmt mit dem öffentlichen Schlüssel überein",),
        "No key provider information": ("Keine Schlüsselanbieterinformationen",),
        "Cannot find the certificate and private key for decryption.": (
            "Das Zertifikat und der private Schlüssel für die Entschlüsselung wurden nicht "
            "gefunden.",
        ),
        "Encryption test passed": ("Verschlüsselungstest wurde durchgeführt",),
        "Signature test passed": ("Signaturtest wurde durchgeführt",),
        "Missing stored keyset": ("Fehlender gespeicherter Schlüsselsatz",),
        "Private key is NOT exportable": ("Der private Schlüssel ist NICHT exportierbar",),
        "Private key is NOT plain text exportable": (
            "Der private Schlüssel ist NICHT als Nur-Text exportierbar",
        ),
        "Non-root Certificate": ("Kein Stammzertifikat",),
        "Archived!": ("Archiviert!",),
    },
    completed="erfolgreich ausgeführt",
)

RUSSIAN = Language(
    code="ru",
    record="Сертификат",
    labels={
        "Serial Number": ("Серийный номер",),
        "Issuer": ("Издатель",),
        "Subject": ("Субъект",),
        "Cert Hash(sha1)": ("Хеш сертификата(sha1)", "Хэш сертификата(sha1)"),
        "Cert Hash(sha256)": ("Хеш сертификата(sha256)", "Хэш сертификата(sha256)"),
        "Template": ("Шаблон",),
        "Root Certificate": ("Корневой сертификат",),
        "CA Version": ("Версия ЦС",),
        "Public Key Length": ("Длина открытого ключа",),
        "Unique container name": ("Уникальное имя контейнера",),
        "Simple container name": ("Простое имя контейнера",),
    },
    key_labels={"Key Container": ("Контейнер ключа",), "Provider": ("Поставщик",)},
    lines={
        "Signature matches Public Key": ("Подпись совпадает с открытым ключом",),
        "No key provider information": ("Нет сведений о поставщике ключа",),
        "Cannot find the certificate and private key for decryption.": (
            "Не удается найти сертификат и закрытый ключ для расшифровки.",
        ),
        "Encryption test passed": ("Тест шифрования пройден",),
        "Signature test passed": ("Тест подписи пройден",),
        "Missing stored keyset": ("Отсутствует сохраненный набор ключей",),
        "Private key is NOT exportable": ("Закрытый ключ НЕ экспортируемый",),
        "Private key is NOT plain text exportable": (
            "Закрытый ключ НЕ экспортируемый в виде обычного текста",
        ),
        "Non-root Certificate": ("Не корневой сертификат",),
        "Archived!": ("Архивирован!",),
    },
    completed="успешно",
)

LANGUAGES: tuple[Language, ...] = (ENGLISH, FRENCH, GERMAN, RUSSIAN)
_BY_RECORD = {normalise(language.record): language for language in LANGUAGES}


def language_of(record_word: str) -> Language | None:
    """The language whose record header says ``record_word`` (``Zertifikat``)."""
    return _BY_RECORD.get(normalise(record_word))


def known_label(text: str) -> bool:
    """A ``Label:`` some language prints (the unknown-language refusal names the first
    label that is not)."""
    return any(language.label(text) is not None for language in LANGUAGES)


def to_english(line: str, language: Language) -> str:
    """One line of a record as English certutil prints it; unchanged when not a line of
    the vocabulary (names, hex dumps, values)."""
    if language is ENGLISH:
        return line
    english = language.line(line)
    if english is not None:
        return english
    label, sep, rest = line.partition(" = ")
    if not sep:
        label, sep, rest = line.replace("\u00a0", " ").partition(" = ")
    if sep and (key := language.key_label(label)) is not None:
        return f"  {key} = {rest.strip()}"
    label, sep, rest = line.partition(":")
    if sep and (name := language.label(label)) is not None:
        return f"{name}: {rest.strip()}"
    return line
